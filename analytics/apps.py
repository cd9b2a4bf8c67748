from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"
    role_permissions = {"analyst": ["view_execution"]}

    def ready(self) -> None:
        # The roll-up lag in /metrics: the kernel's endpoint imports no app, so the app registers its figures.
        from analytics.monitoring import RollupCollector
        from lifecycle.core.observability.metrics import register_scrape_collector

        register_scrape_collector(RollupCollector())
        post_migrate.connect(_create_execution_partitions, sender=self)


def _create_execution_partitions(using: str, **kwargs: Any) -> None:
    # A fresh or long-idle PostgreSQL database has today's partitions (and the next days') as soon as
    # `migrate` ends, without waiting for the beat's first hourly run. Nothing on SQLite.
    from analytics.partitions import create_execution_partitions

    create_execution_partitions(using=using)
