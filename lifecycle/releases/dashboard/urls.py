from django.contrib.auth import views as auth_views
from django.urls import path

from abtesting.dashboard import abtest_page
from lifecycle.releases.dashboard import views

urlpatterns = [
    path("", views.overview, name="dashboard-overview"),
    path("templates/<uuid:template_id>/", views.template_page, name="dashboard-template"),
    path("abtests/<uuid:test_id>/", abtest_page, name="dashboard-abtest"),
    path("rollbacks/", views.rollbacks_page, name="dashboard-rollbacks"),
    path(
        "login/",
        # Signed in from the login page itself (no `next`): the overview, not Django's /accounts/profile/.
        auth_views.LoginView.as_view(
            template_name="dashboard/login.html", redirect_authenticated_user=True, next_page="dashboard-overview"
        ),
        name="dashboard-login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="dashboard-login"), name="dashboard-logout"),
]
