from lifecycle.core.api.routes import api_path
from lifecycle.core.tokens.api import views

urlpatterns = [
    *api_path("tokens", views.TokenListApi.as_view(), "token-list"),
    *api_path("tokens/<uuid:token_id>", views.TokenDetailApi.as_view(), "token-detail"),
    *api_path("tokens/<uuid:token_id>/revoke", views.RevokeTokenApi.as_view(), "token-revoke"),
]
