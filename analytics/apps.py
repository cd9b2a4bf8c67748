from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"
    role_permissions = {"analyst": ["view_execution"]}

    def ready(self) -> None:
        # The roll-up lag in /metrics: the kernel's endpoint imports no app, so the app registers its figures.
        from analytics.monitoring import RollupCollector
        from lifecycle.core.observability.metrics import register_scrape_collector

        register_scrape_collector(RollupCollector())
