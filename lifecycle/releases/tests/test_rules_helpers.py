"""What the trigger-rule tests share (no tests here; test modules import its fixtures `clock_fixture` and
`live_fixture`, named `clock` and `live`): a template live in development, reports of its
executions stored through analytics' services, rules made through the rules' services, and evaluations
at chosen moments.

Deployments are stamped with the real clock by the deploy service, so the tests' timelines run forward
from a deployment: reports are timestamped after it (the clock skew allowed for reports is widened to
days for that), and each evaluation's window ends at a moment the test chooses.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifecycle.releases.models import Deployment
from lifecycle.releases.rules.evaluation import PairResult, evaluate_pair
from lifecycle.releases.rules.models import TriggerEvaluation, TriggerRule
from lifecycle.releases.rules.services import create_rule
from lifecycle.releases.services import create_version_live_in_development
from lifecycle.testing.executions import store
from lifecycle.testing.factories import ExecutionReportFactory
from lifecycle.testing.factories import create_template as make_template

ENVIRONMENT = "development"
_request_ids = itertools.count()


@pytest.fixture(name="clock")
def clock_fixture(settings: Any) -> None:
    """Reports may be timestamped up to three days ahead; evaluations tick every minute."""
    settings.EXECUTION_CLOCK_SKEW_SECONDS = 3 * 86400
    settings.ROLLBACK_EVALUATION_SECONDS = 60


def report(
    version: Any,
    count: int,
    *,
    start: datetime,
    end: datetime | None = None,
    failures: int = 0,
    response_times: Sequence[float] | None = None,
    cost: float | Sequence[float] | None = 0.002,
    satisfaction: Sequence[int] | None = None,
    environment: str = ENVIRONMENT,
    roll_up: bool = False,
) -> None:
    """`count` executions of `version` spread evenly over [start, end) (all at `start` if no end), the first
    `failures` of them errors, through analytics' services. `cost`: one for all, or one each."""
    end = end or start + timedelta(microseconds=1)
    span = (end - start) // timedelta(microseconds=1)  # whole microseconds: every timestamp stays before `end`
    rows = []
    for index in range(count):
        row = ExecutionReportFactory(
            version=version,
            status="error" if index < failures else "success",
            responseTime=response_times[index] if response_times is not None else 1200,
            timestamp=(start + timedelta(microseconds=span * index // count)).isoformat(),
            environment=environment,
            tokenUsage={
                "inputTokens": 15,
                "outputTokens": 45,
                "totalTokens": 60,
                "cost": cost if cost is None or isinstance(cost, float | int) else cost[index],
            },
            metadata={"requestId": f"rules-{next(_request_ids)}"},
        )
        if cost is None:
            del row["tokenUsage"]["cost"]
        if index < failures:
            row["error"] = {"type": "RateLimit", "message": "429"}
        if satisfaction is not None:
            row["userSatisfaction"] = satisfaction[index]
        rows.append(row)
    store(rows, roll_up=roll_up)


@dataclass
class Live:
    """A template with a version active in development since `deployment.deployed_at` (`at`)."""

    template: Any
    version: Any
    deployment: Deployment
    author: Any
    deployer: Any

    @property
    def at(self) -> datetime:
        return self.deployment.deployed_at

    def minute(self, minutes: float) -> datetime:
        return self.at + timedelta(minutes=minutes)

    def rule(self, **fields: Any) -> TriggerRule:
        values = {"template_id": self.template.pk, "environment": ENVIRONMENT, **fields}
        return create_rule(actor=self.deployer, **values)

    def evaluate(self, minutes: float, **kwargs: Any) -> PairResult:
        return evaluate_pair(
            template_id=self.template.pk, environment=ENVIRONMENT, window_end=self.minute(minutes), **kwargs
        )

    def next_version(self) -> Live:
        """A new version of the template, active in development from now (superseding this one)."""
        version = create_version_live_in_development(
            actor=self.author,
            template_id=self.template.pk,
            definition={"content": f"Next {{{{inquiry}}}} {self.version.pk}"},
        )
        deployment = Deployment.objects.get(template=self.template, environment=ENVIRONMENT, state="active")
        assert deployment.version_id == version.pk
        return Live(self.template, version, deployment, self.author, self.deployer)


def live_template(author: Any, deployer: Any) -> Live:
    template = make_template(author)
    deployment = Deployment.objects.get(template=template, environment=ENVIRONMENT, state="active")
    return Live(template, template.latest_version, deployment, author, deployer)


@pytest.fixture(name="live")
def live_fixture(clock: None, author: Any, deployer: Any) -> Live:
    return live_template(author, deployer)


def evaluations(rule: TriggerRule) -> list[TriggerEvaluation]:
    """The rule's recorded evaluations, oldest first."""
    return list(TriggerEvaluation.objects.filter(rule_id=rule.pk).order_by("tick"))
