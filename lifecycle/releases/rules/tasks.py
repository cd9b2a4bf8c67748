"""The beat's evaluation of rollback triggers: thin tasks over evaluation.py (ids in, safe to run twice).

`releases.evaluate_rollback_triggers` runs every ROLLBACK_EVALUATION_SECONDS (lifecycle/celery.py) and
enqueues one `releases.evaluate_rollback_triggers_for` per chunk of (template, environment) pairs with
enabled rules (evaluation.PAIRS_PER_CHUNK: several workers share a big pass; one chunk reads its pairs'
numbers in a few queries), all for the same moment: the window's end, which is also the evaluation's
idempotency key (its tick).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from celery import shared_task
from django.utils import timezone

from lifecycle.releases.rules.evaluation import chunks, evaluate_pairs, pairs_with_enabled_rules


@shared_task(name="releases.evaluate_rollback_triggers")
def evaluate_rollback_triggers() -> int:
    """Enqueue the evaluation of every template and environment with enabled rules; how many pairs."""
    window_end = timezone.now().isoformat()
    pairs = pairs_with_enabled_rules()
    for chunk in chunks(pairs):
        evaluate_rollback_triggers_for.delay(
            [[str(template_id), environment] for template_id, environment in chunk], window_end
        )
    return len(pairs)


@shared_task(name="releases.evaluate_rollback_triggers_for", bind=True, acks_late=True)
def evaluate_rollback_triggers_for(self: Any, pairs: list[list[str]], window_end: str) -> int:
    """Evaluate these templates' rules in these environments for the tick of `window_end`; how many fired."""
    results = evaluate_pairs(
        [(UUID(template_id), environment) for template_id, environment in pairs],
        window_end=datetime.fromisoformat(window_end),
        task_id=self.request.id or "",
    )
    return sum(len(result.firings) for result in results)
