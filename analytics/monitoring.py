"""Analytics' Prometheus metrics (lifecycle.core.observability.metrics): executions ingested, counted by the
web process that stored them, and the roll-up lag, read from the database when /metrics is scraped."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import transaction
from django.db.models import Sum
from prometheus_client import Counter
from prometheus_client.core import Metric

from analytics.models import PendingBatch
from lifecycle.core.observability.metrics import gauge, seconds_since

executions_ingested = Counter(
    "lifecycle_executions_ingested",
    "Execution reports received, by outcome: stored, or a duplicate of a stored one (its request id).",
    ["outcome"],
)


def count_ingested(*, stored: int, duplicates: int) -> None:
    """Counted once the batch's transaction commits: a batch rolled back stored nothing."""

    def count() -> None:
        if stored:
            executions_ingested.labels(outcome="stored").inc(stored)
        if duplicates:
            executions_ingested.labels(outcome="duplicate").inc(duplicates)

    transaction.on_commit(count)


class RollupCollector:
    """How far the rollups are behind: the age of the oldest batch not yet folded in, and how many
    executions wait. Both read PendingBatch, which the worker empties every ANALYTICS_ROLLUP_SECONDS, so it
    stays small (the oldest by primary key: uuid7 ids are in time order, and the key is indexed)."""

    def collect(self) -> Iterator[Metric]:
        oldest = PendingBatch.objects.order_by("pk").values_list("created_at", flat=True).first()
        yield gauge(
            "lifecycle_rollup_lag_seconds",
            "Age of the oldest execution batch not yet folded into the rollups (0: none waits).",
            seconds_since(oldest) or 0.0,
        )
        waiting = PendingBatch.objects.aggregate(total=Sum("executions"))["total"] or 0
        yield gauge("lifecycle_rollup_pending_executions", "Executions stored but not yet in the rollups.", waiting)
