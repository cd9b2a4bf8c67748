"""GET /api/abtests/{id}/results: executions reported through analytics' services for a running test, every
number checked against scipy or the formula over the raw values the test generated."""

from __future__ import annotations

import itertools
import math
import random
import time
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from scipy import stats

from abtesting import services
from abtesting.models import ABTest
from analytics.rollups import roll_up_pending
from analytics.windows import floor_hour
from lifecycle.releases.services import create_version_live_in_development
from lifecycle.testing.executions import store
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db

ENVIRONMENT = "development"  # every version is approved there: the tests need no approvals
CONVERSION = {"name": "conversion", "type": "conversion_rate", "target": None, "weight": 0.7}
LATENCY = {"name": "latency", "type": "response_time", "target": 1000, "weight": 0.3}
COST_GUARDRAIL = {"name": "cost", "type": "cost"}
_ids = itertools.count()


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment, written out: the i-th smallest times (m - i), then the running maximum."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, p_values[index] * (len(p_values) - rank)))
        adjusted[index] = running
    return adjusted


def welch_p(a: list[float], b: list[float]) -> float:
    return float(stats.ttest_ind(b, a, equal_var=False).pvalue)


def proportion_p(events_a: int, n_a: int, events_b: int, n_b: int) -> float:
    """The unpooled two-sample test with per-unit variance p(1 - p) and Welch's dof, from scipy."""
    p_a, p_b = events_a / n_a, events_b / n_b
    return float(
        stats.ttest_ind_from_stats(
            p_b, math.sqrt(p_b * (1 - p_b)), n_b, p_a, math.sqrt(p_a * (1 - p_a)), n_a, equal_var=False
        ).pvalue
    )


class Arm:
    """The raw values of the executions a test reported for one variant."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.costs: list[float] = []
        self.converted: list[bool] = []
        self.users: set[str] = set()


def rows_for(
    version: Any,
    count: int,
    *,
    start: Any,
    end: Any,
    conversion: float,
    latency: tuple[float, float] = (1000.0, 200.0),
    cost: tuple[float, float] = (0.002, 0.0005),
    seed: int,
    users: int | None = None,
    environment: str = ENVIRONMENT,
    arm: Arm | None = None,
    test: ABTest | None = None,
) -> list[dict[str, Any]]:
    """`count` reports of `version` spread over [start, end): converted with probability `conversion`, one
    userId each unless `users` says how many distinct ones to cycle through; with `test`, reported as render
    served them, with its abTestId and the variantId of `version`. `arm` collects their values."""
    rng = random.Random(seed)
    tags = {}
    if test is not None:
        variant = next(variant for variant in test.variants.all() if variant.template_version_id == version.pk)
        tags = {"abTestId": str(test.pk), "variantId": variant.key}
    span = (end - start).total_seconds()
    rows = []
    for index in range(count):
        converted = rng.random() < conversion
        time = round(max(1.0, rng.gauss(*latency)), 3)
        spent = round(max(0.0, rng.gauss(*cost)), 6)
        user = f"u{seed}-{index % users if users else index}"
        rows.append(
            ExecutionReportFactory(
                version=version,
                responseTime=time,
                timestamp=(start + timedelta(seconds=span * (index + 0.5) / count)).isoformat(),
                environment=environment,
                userId=user,
                converted=converted,
                tokenUsage={"inputTokens": 10, "outputTokens": 20, "totalTokens": 30, "cost": spent},
                metadata={"requestId": f"ab-{next(_ids)}"},
                **tags,
            )
        )
        if arm is not None:
            arm.times.append(time)
            arm.costs.append(spent)
            arm.converted.append(converted)
            arm.users.add(user)
    return rows


@pytest.fixture
def running(subject, runner, author):
    """make(variants=2|3, **create fields): a test in development started three and a half hours ago (so its
    window has raw edges and whole hours); returns (test, versions, start)."""

    def make(variants: int = 2, **fields: Any):
        versions = list(subject.versions)
        if variants == 3:
            versions.append(
                create_version_live_in_development(
                    actor=author, template_id=subject.template.pk, definition={"content": "Third: {{inquiry}}"}
                )
            )
        shares = [50, 50] if variants == 2 else [34, 33, 33]
        keys = ["control", "variant-a", "variant-b"][:variants]
        payload = {
            "name": "Results test",
            "template_id": subject.template.pk,
            "environment": ENVIRONMENT,
            "variants": [
                {"id": key, "template_version_id": version.pk, "traffic_percentage": share}
                for key, version, share in zip(keys, versions, shares, strict=True)
            ],
            "success_metrics": [CONVERSION, LATENCY],
            "guardrail_metrics": [COST_GUARDRAIL],
            "minimum_sample_size": 100,
            **fields,
        }
        test = services.create_test(actor=author, **payload)
        services.start_test(actor=runner, test_id=test.pk)
        start = floor_hour(timezone.now()) - timedelta(hours=3) - timedelta(minutes=30)
        ABTest.objects.filter(pk=test.pk).update(started_at=start)
        return test, versions, start

    return make


def results(api, user, test) -> dict[str, Any]:
    response = api.as_user(user).get(f"/api/abtests/{test.pk}/results")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def analyst(make_user):
    return make_user("analyst")


def by_variant(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["variantId"]: row for row in body["variantResults"]}


def comparison(body: dict[str, Any], variant: str, metric: str) -> dict[str, Any]:
    return next(row for row in body["comparisons"] if row["variantId"] == variant and row["metric"] == metric)


def test_results__clear_difference__every_number_agrees_with_scipy_and_the_variant_ships(api, running, analyst):
    # Given a running test whose variant converts at 30 % against the control's 15 %, 400 executions each,
    # plus executions outside its environment and before its start, which must not count
    test, versions, start = running()
    now = timezone.now()
    arms = {"control": Arm(), "variant-a": Arm()}
    rows = rows_for(versions[0], 400, start=start, end=now, conversion=0.15, test=test, seed=1, arm=arms["control"])
    rows += rows_for(versions[1], 400, start=start, end=now, conversion=0.3, test=test, seed=2, arm=arms["variant-a"])
    rows += rows_for(versions[1], 50, start=start, end=now, conversion=1.0, seed=3, environment="staging")
    rows += rows_for(versions[0], 50, start=start - timedelta(hours=2), end=start, conversion=1.0, seed=4)
    # When they are read pending (not rolled up), then after the roll-up
    store(rows, roll_up=False)
    pending = results(api, analyst, test)
    roll_up_pending()
    body = results(api, analyst, test)
    # Then both answers are the same (but for the running period's end, which is now)
    pending.pop("periods"), body.pop("periods")
    assert _same(pending, body)
    # And each variant's figures are those of its own executions, with their intervals
    variants = by_variant(body)
    for key, arm in arms.items():
        row = variants[key]
        n = len(arm.times)
        assert row["executions"] == n == 400
        assert row["subjects"] == len(arm.users)
        assert row["successRate"] == pytest.approx(100.0)
        events = sum(arm.converted)
        assert row["conversionRate"] == pytest.approx(100 * events / n, abs=1e-9)
        wilson = stats.binomtest(events, n).proportion_ci(0.95, method="wilson")
        assert row["intervals"]["conversionRate"]["lower"] == pytest.approx(100 * wilson.low, abs=1e-9)
        assert row["intervals"]["conversionRate"]["upper"] == pytest.approx(100 * wilson.high, abs=1e-9)
        assert row["averageResponseTime"] == pytest.approx(np.mean(arm.times), rel=1e-9)
        low, high = stats.t.interval(0.95, n - 1, loc=np.mean(arm.times), scale=stats.sem(arm.times))
        assert row["intervals"]["averageResponseTime"]["lower"] == pytest.approx(low, rel=1e-9)
        assert row["intervals"]["averageResponseTime"]["upper"] == pytest.approx(high, rel=1e-9)
        assert row["averageCost"] == pytest.approx(np.mean(arm.costs), rel=1e-9)
        assert row["averageTokens"] == pytest.approx(30.0)
        assert row["p95ResponseTime"] == pytest.approx(np.percentile(arm.times, 95, method="inverted_cdf"), rel=0.01)
        assert row["averageSatisfaction"] is None
    # And the comparisons are scipy's, Holm-adjusted over the two success metrics
    control, variant = arms["control"], arms["variant-a"]
    p_conversion = proportion_p(sum(control.converted), 400, sum(variant.converted), 400)
    p_latency = welch_p(control.times, variant.times)
    conversion = comparison(body, "variant-a", "conversion")
    latency = comparison(body, "variant-a", "latency")
    assert conversion["method"] == "unpooled_t"
    assert conversion["pValue"] == pytest.approx(p_conversion, rel=1e-6)
    assert latency["pValue"] == pytest.approx(p_latency, rel=1e-6)
    assert [conversion["pValueAdjusted"], latency["pValueAdjusted"]] == pytest.approx(
        holm([p_conversion, p_latency]), rel=1e-6
    )
    difference = (sum(variant.converted) - sum(control.converted)) / 400
    assert conversion["difference"]["estimate"] == pytest.approx(100 * difference, abs=1e-9)
    assert conversion["relativeLift"]["estimate"] == pytest.approx(
        sum(variant.converted) / sum(control.converted) - 1, rel=1e-9
    )
    standard_error = conversion["difference"]["standardError"] / 100
    assert conversion["chanceToBeatControl"] == pytest.approx(stats.norm.sf(0, difference, standard_error), rel=1e-9)
    assert conversion["significant"]
    assert conversion["direction"] == "better"
    sequential = conversion["sequential"]["interval"]
    assert sequential["lower"] < conversion["difference"]["interval"]["lower"]  # wider: valid at every look
    assert comparison(body, "variant-a", "cost")["pValueAdjusted"] is None  # guardrails outside the family
    assert comparison(body, "variant-a", "cost")["pValue"] == pytest.approx(
        welch_p(control.costs, variant.costs), rel=1e-6
    )
    # And the variant wins
    assert body["statisticalSignificance"] is True
    assert body["winner"] == "variant-a", (body["recommendation"], body["sampleSize"])
    assert body["recommendation"]["action"] == "ship"
    assert body["trustworthy"] is True
    assert body["sampleRatioMismatch"]["mismatch"] is False


def _same(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Equal, floats within rounding (sums added in another order)."""
    assert first.keys() == second.keys()
    for key in first:
        a, b = first[key], second[key]
        if isinstance(a, float) and isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), key
        elif isinstance(a, dict):
            _same(a, b)
        elif isinstance(a, list):
            assert len(a) == len(b), key
            for x, y in zip(a, b, strict=True):
                _same(x, y) if isinstance(x, dict) else _same({"v": x}, {"v": y})
        else:
            assert a == b, key
    return True


def test_results__three_variants_no_real_difference__holm_over_four_and_no_winner(api, running, analyst):
    # Given three variants that convert alike, 150 executions each
    test, versions, start = running(variants=3)
    now = timezone.now()
    arms = [Arm(), Arm(), Arm()]
    rows = []
    for index, (version, arm) in enumerate(zip(versions, arms, strict=True)):
        rows += rows_for(version, 150, start=start, end=now, conversion=0.3, test=test, seed=10 + index, arm=arm)
    store(rows)
    # When an analyst reads the results
    body = results(api, analyst, test)
    # Then the four success comparisons (2 variants x 2 metrics) are Holm-adjusted together
    raw = []
    for arm in arms[1:]:
        raw.append(proportion_p(sum(arms[0].converted), 150, sum(arm.converted), 150))
        raw.append(welch_p(arms[0].times, arm.times))
    keys = [
        ("variant-a", "conversion"),
        ("variant-a", "latency"),
        ("variant-b", "conversion"),
        ("variant-b", "latency"),
    ]
    got = [comparison(body, *key) for key in keys]
    assert [row["pValue"] for row in got] == pytest.approx(raw, rel=1e-6)
    assert [row["pValueAdjusted"] for row in got] == pytest.approx(holm(raw), rel=1e-6)
    assert [row["significant"] for row in got] == [adjusted < 0.05 for adjusted in holm(raw)]
    # And nothing is declared
    assert body["winner"] is None
    assert body["statisticalSignificance"] is False
    assert body["recommendation"]["action"] in ("keep_running", "keep_control")


def test_results__below_the_minimum_sample__no_winner_and_how_many_more(api, running, analyst):
    # Given a big difference but 100 executions per variant where the test wants 300
    test, versions, start = running(minimum_sample_size=300)
    now = timezone.now()
    control, variant = Arm(), Arm()
    rows = rows_for(versions[0], 100, start=start, end=now, conversion=0.1, test=test, seed=20, arm=control)
    rows += rows_for(versions[1], 100, start=start, end=now, conversion=0.6, test=test, seed=21, arm=variant)
    store(rows)
    # When the results are read
    body = results(api, analyst, test)
    # Then no winner, and the executions per arm for 80 % power at the observed effect (at least the minimum)
    assert body["winner"] is None
    assert body["recommendation"]["action"] == "keep_running"
    p1, p2 = sum(control.converted) / 100, sum(variant.converted) / 100
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    required = max(300, math.ceil(z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2))
    assert body["sampleSize"]["requiredPerArm"] == required
    assert body["sampleSize"]["moreExecutionsPerArm"] == required - 100
    assert body["sampleSize"]["enoughData"] is False


def test_results__sample_ratio_mismatch__untrustworthy_and_no_winner(api, running, analyst):
    # Given a 50/50 test whose variants saw 500 and 700 distinct subjects, the variant far better
    test, versions, start = running()
    now = timezone.now()
    rows = rows_for(versions[0], 500, start=start, end=now, conversion=0.1, test=test, seed=30)
    rows += rows_for(versions[1], 700, start=start, end=now, conversion=0.4, test=test, seed=31)
    store(rows)
    # When the results are read
    body = results(api, analyst, test)
    # Then the chi-square is scipy's, flagged, and the test declares nothing
    srm = body["sampleRatioMismatch"]
    expected = stats.chisquare([500, 700], [600, 600])
    assert expected.pvalue < 0.001
    assert srm["pValue"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert srm["chiSquare"] == pytest.approx(expected.statistic, rel=1e-12)
    assert srm["mismatch"] is True
    assert body["trustworthy"] is False
    assert body["winner"] is None
    assert "Untrustworthy" in body["recommendation"]["reason"]


def test_results__guardrail_significantly_worse__blocks_the_winner(api, running, analyst):
    # Given a variant far better on conversion but costing twice as much per execution (the cost guardrail)
    test, versions, start = running()
    now = timezone.now()
    control, variant = Arm(), Arm()
    rows = rows_for(versions[0], 300, start=start, end=now, conversion=0.15, test=test, seed=40, arm=control)
    rows += rows_for(
        versions[1], 300, start=start, end=now, conversion=0.4, cost=(0.004, 0.0005), test=test, seed=41, arm=variant
    )
    store(rows)
    # When the results are read
    body = results(api, analyst, test)
    # Then the guardrail's comparison is significantly worse, and there is no winner
    cost = comparison(body, "variant-a", "cost")
    assert cost["pValue"] == pytest.approx(welch_p(control.costs, variant.costs), rel=1e-6)
    assert cost["significant"]
    assert cost["direction"] == "worse"
    assert comparison(body, "variant-a", "conversion")["significant"]
    assert body["winner"] is None
    assert body["recommendation"]["action"] == "keep_control"


def test_results__running_without_executions__zeros_and_nulls(api, running, analyst):
    test, _, _ = running()
    body = results(api, analyst, test)
    for row in body["variantResults"]:
        assert (row["executions"], row["subjects"]) == (0, 0)
        assert row["successRate"] is None
        assert row["averageResponseTime"] is None
        assert row["p95ResponseTime"] is None
        assert row["intervals"]["successRate"] is None
    assert all(not row["enoughData"] and row["pValue"] is None for row in body["comparisons"])
    assert body["winner"] is None
    assert body["statisticalSignificance"] is False
    assert body["recommendation"]["action"] == "keep_running"


def test_results__draft__the_shape_with_not_started(api, subject, author, analyst):
    test = services.create_test(actor=author, **subject.service_payload(environment=ENVIRONMENT))
    body = results(api, analyst, test)
    assert body["status"] == "draft"
    assert body["periods"] == []
    assert [row["executions"] for row in body["variantResults"]] == [0, 0]
    assert body["recommendation"]["action"] == "keep_running"
    assert "not started" in body["recommendation"]["reason"]


def test_results__without_the_analyst_or_deployer_role_or_maintaining__403(api, running, make_user, author):
    test, _, _ = running()
    assert api.as_user(make_user("qa")).get(f"/api/abtests/{test.pk}/results").status_code == 403
    assert api.as_user(make_user("author")).get(f"/api/abtests/{test.pk}/results").status_code == 403
    assert api.as_user(make_user("deployer")).get(f"/api/abtests/{test.pk}/results").status_code == 200
    assert api.as_user(author).get(f"/api/abtests/{test.pk}/results").status_code == 200  # maintains it


def test_results__unknown_test__404(api, analyst):
    response = api.as_user(analyst).get("/api/abtests/00000000-0000-0000-0000-000000000000/results")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "abtest_not_found"


def test_results__too_few_of_the_rarer_outcome__more_executions_to_reach_it(api, running, analyst):
    # Given 400 executions per variant, the control converting rarely (about 2 %), the variant at 30 %
    test, versions, start = running()
    now = timezone.now()
    control = Arm()
    rows = rows_for(versions[0], 400, start=start, end=now, conversion=0.02, test=test, seed=60, arm=control)
    rows += rows_for(versions[1], 400, start=start, end=now, conversion=0.3, test=test, seed=61)
    store(rows)
    # When the results are read
    body = results(api, analyst, test)
    # Then no winner yet, and the control needs about 25 / rate executions for 25 conversions
    events = sum(control.converted)
    assert 0 < events < 25
    assert body["winner"] is None
    assert body["sampleSize"]["enoughData"] is False
    assert body["sampleSize"]["requiredPerArm"] == math.ceil(25 * 400 / events)
    assert body["sampleSize"]["moreExecutionsPerArm"] == math.ceil(25 * 400 / events) - 400
    assert "25 of its rarer outcome (control has" in body["recommendation"]["reason"]


def test_results__paused_then_resumed__executions_of_the_pause_left_out(api, running, runner, analyst):
    # Given a running test with executions, then paused (render serves the control to everyone), executions
    # meanwhile, then resumed, and executions after
    test, versions, start = running()
    before = rows_for(versions[0], 40, start=start, end=timezone.now(), conversion=0.5, test=test, seed=70)
    store(before)
    paused = services.pause_test(actor=runner, test_id=test.pk).paused_at
    time.sleep(0.05)
    during = rows_for(versions[0], 30, start=paused, end=timezone.now(), conversion=0.5, seed=71)
    store(during)
    time.sleep(0.05)
    services.start_test(actor=runner, test_id=test.pk)
    resumed = ABTest.history.filter(id=test.pk).order_by("-history_id").first().history_date
    time.sleep(0.05)
    after = rows_for(versions[0], 20, start=resumed, end=timezone.now(), conversion=0.5, test=test, seed=72)
    store(after)
    # When the results are read
    body = results(api, analyst, test)
    # Then the control counts what ran before the pause and after the resume, not what ran during it
    assert by_variant(body)["control"]["executions"] == 40 + 20
    assert len(body["periods"]) == 2
    assert body["periods"][0]["end"] == paused.isoformat().replace("+00:00", "Z")


# Executions count for a variant by its variantId, else by its version (API.md)


def report_rows(version, count, *, start, end, seed, test=None, variant=None, response_time=None):
    """`count` successful reports of `version`; with `test` and `variant`, naming that variant (whatever the
    version); every execution of a call converts, with response time `response_time` when given."""
    rows = rows_for(version, count, start=start, end=end, conversion=1.0, seed=seed)
    for row in rows:
        if test is not None:
            row.update(abTestId=str(test.pk), variantId=variant)
        if response_time is not None:
            row["responseTime"] = response_time
    return rows


@pytest.mark.parametrize("days", [0, 3], ids=["hours", "days"])
@pytest.mark.parametrize("rolled_up", [False, True])
def test_results__by_variant_id_else_by_version__each_execution_where_it_belongs(
    api, running, analyst, subject, author, rolled_up, days
):
    # Given a running test (control 1.0.0, variant-a 1.0.1), running for hours or for days (whole days of
    # rollups), and executions of four kinds
    test, versions, start = running()
    if days:
        start -= timedelta(days=days)
        ABTest.objects.filter(pk=test.pk).update(started_at=start)
    other = services.create_test(
        actor=author,
        name="Another test",
        template_id=subject.template.pk,
        environment="staging",
        variants=[
            {"id": "control", "template_version_id": versions[0].pk, "traffic_percentage": 50},
            {"id": "x", "template_version_id": versions[1].pk, "traffic_percentage": 50},
        ],
    )
    now = timezone.now()
    window = {"start": start, "end": now}
    rows = report_rows(versions[0], 30, **window, seed=80, test=test, variant="control", response_time=100)
    # 1.0.0's executions that say variant-a count for variant-a (their variantId wins)
    rows += report_rows(versions[0], 20, **window, seed=81, test=test, variant="variant-a", response_time=200)
    # 1.0.1's untagged executions count for variant-a (by version)
    rows += report_rows(versions[1], 10, **window, seed=82, response_time=300)
    # 1.0.0's executions naming another test's variant count for no variant of this one
    rows += report_rows(versions[0], 7, **window, seed=83, test=other, variant="x", response_time=400)
    # and so do this test's executions naming no variant of it
    rows += report_rows(versions[0], 5, **window, seed=84, test=test, variant="variant-z", response_time=500)
    store(rows, roll_up=rolled_up)
    # When the results are read
    variants = by_variant(results(api, analyst, test))
    # Then control: its 30 tagged; variant-a: its 20 tagged of 1.0.0 and the 10 untagged of 1.0.1
    assert variants["control"]["executions"] == 30
    assert variants["control"]["averageResponseTime"] == pytest.approx(100)
    assert variants["variant-a"]["executions"] == 30
    assert variants["variant-a"]["averageResponseTime"] == pytest.approx((20 * 200 + 10 * 300) / 30)
    assert variants["variant-a"]["p95ResponseTime"] == pytest.approx(300, rel=0.01)


@pytest.mark.parametrize("rolled_up", [False, True])
def test_results__a_a_test_of_one_version__each_variant_its_own_executions(
    api, subject, author, runner, analyst, rolled_up
):
    # Given an A/A test: both variants serve 1.0.0 (creation allows it)
    version = subject.versions[0]
    test = services.create_test(
        actor=author,
        name="A/A",
        template_id=subject.template.pk,
        environment=ENVIRONMENT,
        variants=[
            {"id": "a1", "template_version_id": version.pk, "traffic_percentage": 50},
            {"id": "a2", "template_version_id": version.pk, "traffic_percentage": 50},
        ],
        success_metrics=[CONVERSION | {"weight": 1}],
    )
    services.start_test(actor=runner, test_id=test.pk)
    start = timezone.now() - timedelta(hours=2)
    ABTest.objects.filter(pk=test.pk).update(started_at=start)
    now = timezone.now()
    # And executions naming each, and untagged ones of the version (which neither may claim)
    rows = report_rows(version, 12, start=start, end=now, seed=90, test=test, variant="a1")
    rows += report_rows(version, 8, start=start, end=now, seed=91, test=test, variant="a2")
    rows += report_rows(version, 50, start=start, end=now, seed=92)
    store(rows, roll_up=rolled_up)
    # When the results are read, then each variant counts its own
    variants = by_variant(results(api, analyst, test))
    assert (variants["a1"]["executions"], variants["a2"]["executions"]) == (12, 8)
