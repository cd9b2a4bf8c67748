from approvals.api import views
from lifecycle.core.api.routes import api_path

urlpatterns = [
    *api_path("approval/submit", views.SubmitApi.as_view(), "approval-submit"),
    *api_path("approval/approve", views.ApproveApi.as_view(), "approval-approve"),
    *api_path("approval/reject", views.RejectApi.as_view(), "approval-reject"),
    *api_path("approval/cancel", views.CancelApi.as_view(), "approval-cancel"),
    *api_path("approval/comment", views.CommentApi.as_view(), "approval-comment"),
    *api_path("approval/pending", views.PendingApi.as_view(), "approval-pending"),
    # approval/requests/<id> is served by lifecycle.releases (with the reach of the request's template).
]
