"""The beat's evaluation of rollback triggers: thin tasks over evaluation.py (ids in, safe to run twice).

`releases.evaluate_rollback_triggers` runs every ROLLBACK_EVALUATION_SECONDS (lifecycle/celery.py) and
enqueues one `releases.evaluate_rollback_triggers_for` per (template, environment) with enabled rules,
all for the same moment: the window's end, which is also the evaluation's idempotency key (its tick).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from celery import shared_task
from django.utils import timezone

from lifecycle.releases.rules.evaluation import evaluate_pair, pairs_with_enabled_rules


@shared_task(name="releases.evaluate_rollback_triggers")
def evaluate_rollback_triggers() -> int:
    """Enqueue the evaluation of every template and environment with enabled rules; how many."""
    window_end = timezone.now().isoformat()
    pairs = pairs_with_enabled_rules()
    for template_id, environment in pairs:
        evaluate_rollback_triggers_for.delay(str(template_id), environment, window_end)
    return len(pairs)


@shared_task(name="releases.evaluate_rollback_triggers_for", bind=True, acks_late=True)
def evaluate_rollback_triggers_for(self: Any, template_id: str, environment: str, window_end: str) -> int:
    """Evaluate one template's rules in one environment for the tick of `window_end`; how many fired."""
    result = evaluate_pair(
        template_id=UUID(template_id),
        environment=environment,
        window_end=datetime.fromisoformat(window_end),
        task_id=self.request.id or "",
    )
    return len(result.firings)
