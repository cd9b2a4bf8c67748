from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "lifecycle.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        post_migrate.connect(_sync_role_permissions, sender=self, dispatch_uid="core.sync_role_permissions")
        # Our items of `check --deploy`, registered by importing them.
        from lifecycle.core import checks  # noqa: F401

        # The worker's heartbeat age and the queue length, read when /metrics is scraped.
        from lifecycle.core.observability.metrics import KernelCollector, register_scrape_collector

        # The admin's autodiscovery imports lifecycle.core.admin (the apps' shared admin classes) only.
        from lifecycle.core.outbox import admin  # noqa: F401
        from lifecycle.core.tokens import admin as tokens_admin  # noqa: F401
        from lifecycle.core.webhooks import admin as webhooks_admin  # noqa: F401

        register_scrape_collector(KernelCollector())


def _sync_role_permissions(**kwargs: Any) -> None:
    from lifecycle.core.roles import sync_role_permissions

    sync_role_permissions()
