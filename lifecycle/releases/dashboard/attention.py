"""What needs attention first, on the overview: alerts fired and automatic rollbacks in the period, approval
requests waiting (oldest first, with their age), and A/B tests whose results ask for a decision (a verdict, or
a sample ratio mismatch). Only about the templates whose numbers the user may read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from abtesting.models import ABTest
from abtesting.results import results_of
from abtesting.selectors import abtests_for_listing
from analytics.permissions import templates_with_numbers_for
from analytics.windows import Window
from approvals.models import ApprovalRequest
from approvals.selectors import pending_with_current_stage
from lifecycle.core.roles import User
from lifecycle.releases.models import Rollback
from lifecycle.releases.rules.models import Alert

# Each list shows this many, newest (or oldest waiting) first; the count says how many there are.
SHOWN = 10
# Running tests whose results are computed for the overview, newest first (each is a results query).
TESTS_CHECKED = 20


@dataclass(frozen=True)
class TestToDecide:
    test: ABTest
    action: str  # the results' recommendation: ship, keep_control, investigate, ...
    reason: str
    mismatch: bool  # sample ratio mismatch


@dataclass
class Attention:
    alerts: list[Alert] = field(default_factory=list)
    alert_count: int = 0
    automatic_rollbacks: list[Rollback] = field(default_factory=list)
    automatic_rollback_count: int = 0
    waiting: list[ApprovalRequest] = field(default_factory=list)  # each with waiting_since (its age)
    waiting_count: int = 0
    tests: list[TestToDecide] = field(default_factory=list)
    tests_unchecked: int = 0  # running tests beyond TESTS_CHECKED, whose results were not computed

    @property
    def anything(self) -> bool:
        return bool(self.alert_count or self.automatic_rollback_count or self.waiting_count or self.tests)


def attention_for(user: User, window: Window, now: datetime) -> Attention:
    visible = templates_with_numbers_for(user).values("pk")
    in_window: dict[str, Any] = {"lt": window.end}
    if window.start is not None:
        in_window["gte"] = window.start
    alerts = Alert.objects.filter(
        template__in=visible, **{f"fired_at__{key}": value for key, value in in_window.items()}
    ).select_related("template")
    rollbacks = Rollback.objects.filter(
        template__in=visible,
        type=Rollback.Type.AUTOMATIC,
        **{f"requested_at__{key}": value for key, value in in_window.items()},
    ).select_related("template", "from_version", "to_version")
    waiting = pending_with_current_stage().filter(version__template__in=visible).order_by("waiting_since")  # type: ignore[misc]
    attention = Attention(
        alerts=list(alerts.order_by("-fired_at")[:SHOWN]),
        alert_count=alerts.count(),
        automatic_rollbacks=list(rollbacks.order_by("-requested_at")[:SHOWN]),
        automatic_rollback_count=rollbacks.count(),
        waiting=list(waiting[:SHOWN]),
        waiting_count=waiting.count(),
    )
    running = abtests_for_listing().filter(template__in=visible, state=ABTest.State.RUNNING)
    attention.tests_unchecked = max(0, running.count() - TESTS_CHECKED)
    for test in running.order_by("-pk")[:TESTS_CHECKED]:
        results = results_of(test, now=now)
        action = results["recommendation"]["action"]
        mismatch = bool(results["sampleRatioMismatch"]["mismatch"])
        if mismatch or action != "keep_running":
            attention.tests.append(TestToDecide(test, action, results["recommendation"]["reason"], mismatch))
    return attention
