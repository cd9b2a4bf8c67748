"""Our own items of `manage.py check --deploy`, next to Django's."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def payloads_encrypted(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Executions' inputs and outputs may hold personal data: kept, they should be encrypted at rest.
    (DJANGO_PRODUCTION refuses to start without the keys; this tells anyone else who checks for deployment.)"""
    if settings.EXECUTION_STORE_PAYLOADS and not settings.DATA_ENCRYPTION_KEYS:
        return [
            Warning(
                "Executions' inputs and outputs are stored unencrypted.",
                hint="Set DATA_ENCRYPTION_KEYS (README, 'Data protection'), or EXECUTION_STORE_PAYLOADS=false.",
                id="core.W001",
            )
        ]
    return []
