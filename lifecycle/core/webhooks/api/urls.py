from lifecycle.core.api.routes import api_path
from lifecycle.core.webhooks.api import views

urlpatterns = [
    *api_path("webhooks", views.SubscriptionListApi.as_view(), "webhook-list"),
    *api_path("webhooks/<uuid:subscription_id>", views.SubscriptionDetailApi.as_view(), "webhook-detail"),
    *api_path("webhooks/<uuid:subscription_id>/rotate-secret", views.RotateSecretApi.as_view(), "webhook-rotate"),
    *api_path("webhooks/<uuid:subscription_id>/deliveries", views.DeliveriesApi.as_view(), "webhook-deliveries"),
]
