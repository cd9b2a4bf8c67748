"""Evaluating the enabled rules of a template in an environment, once per tick, and acting on those that
fire (engine.py decides, actions.act acts).

`evaluate_pair` works in two steps:

1. Measure, in one read snapshot and without locks: the active deployment, its rules, and each rule's
   window (analytics' rollups plus the raw rows of the window's edges), and the previous version's
   baseline where a rule needs one and has not frozen it yet. On SQLite this keeps the one write lock
   free while the numbers are read; on PostgreSQL the snapshot keeps rollups and raw rows consistent.
2. Decide and act, in one short transaction: lock the template's row and the active deployment's row
   with SKIP LOCKED (another worker holds them: exit, it is doing this work), re-check that what was
   measured is still what is live and still how the rule reads, skip every rule already evaluated for
   this tick, move each rule's streak, record every evaluation that is not a plain "ok", and hand each
   firing to act(). The template's lock comes first because the rollback that act() may start takes
   it too (templates_app.services.lock_template: the lock order of every change to what a template
   serves).

So a tick's evaluation happens once however often its task runs: the rule's last tick under the lock,
and a unique (rule, deployment, tick) on recorded evaluations behind it. A tick is the moment the beat
fired, floored to ROLLBACK_EVALUATION_SECONDS; the window ends at that moment.

`evaluate_pairs` does this for many pairs at once, as the beat's tasks do: step 1 for all of them in a few
queries (the deployments, rules, states and previous deployments of all, and every window's numbers through
one Reader.prefetch), then step 2 for each pair that has something to record or decide. A quiet pair,
whose every rule is "ok" or short of data with no breach in progress, changes nothing and takes no lock:
evaluating it again for the same tick would find the same. So a tick over a thousand quiet rules costs a
handful of queries, not a thousand transactions.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from lifecycle.core.db.snapshots import one_snapshot
from lifecycle.core.db.sqlite import one_writer_at_a_time
from lifecycle.releases.models import Deployment
from lifecycle.releases.rules import engine
from lifecycle.releases.rules.actions import act
from lifecycle.releases.rules.definitions import (
    BASELINE_WINDOWS,
    DAY_MINUTES,
    METRICS,
    Action,
    Baseline,
    Kind,
    Metric,
)
from lifecycle.releases.rules.engine import Firing, Standing, Verdict
from lifecycle.releases.rules.measure import Ask, Measurement, Reader
from lifecycle.releases.rules.models import Alert, TriggerEvaluation, TriggerRule, TriggerState
from lifecycle.releases.rules.monitoring import count_evaluations
from lifecycle.releases.services import verify_rollback
from templates_app.models import PromptTemplate

logger = logging.getLogger(__name__)


def tick_seconds() -> float:
    return float(settings.ROLLBACK_EVALUATION_SECONDS)


def tick_of(moment: datetime, seconds: float | None = None) -> datetime:
    """The evaluation tick `moment` falls in: floored to the evaluation interval (from the epoch)."""
    step = seconds or tick_seconds()
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)


def pairs_with_enabled_rules() -> list[tuple[UUID, str]]:
    """Each (template id, environment) that has an enabled rule."""
    return list(
        TriggerRule.objects.filter(enabled=True)
        .values_list("template_id", "environment")
        .distinct()
        .order_by("template_id", "environment")
    )


def latest_history_ids(rule_ids: list[UUID]) -> dict[UUID, int]:
    """Each rule's newest historical record: the rule as an evaluation reads it."""
    rows = (
        TriggerRule.history.filter(id__in=rule_ids)  # type: ignore[attr-defined]
        .values("id")
        .annotate(latest=Max("history_id"))
        .order_by()
    )
    return {row["id"]: row["latest"] for row in rows}


@dataclass(frozen=True)
class Measured:
    """Step 1's result for one rule."""

    rule: TriggerRule
    history_id: int
    start: datetime
    end: datetime
    verdict: Verdict
    frozen_baseline: dict[str, Any] | None  # a baseline to freeze (previous_version, first use)


@dataclass
class PairResult:
    """What one evaluation of a template's rules in an environment did."""

    template_id: UUID
    environment: str
    tick: datetime
    skipped: str = ""  # why nothing was evaluated
    quiet: bool = False  # evaluated, and nothing to record or decide: no transaction taken
    evaluated: int = 0
    recorded: int = 0
    firings: list[Firing] = field(default_factory=list)
    dry_runs: int = 0
    alerts: list[Alert] = field(default_factory=list)


def window_of(rule: TriggerRule, deployment: Deployment, end: datetime) -> tuple[datetime, datetime]:
    """The rule's window ending at `end`, clipped at the deployment's start: a fresh deployment is judged
    on its own executions only."""
    minutes = DAY_MINUTES if rule.metric == Metric.DAILY_COST else rule.window_minutes
    return min(max(end - timedelta(minutes=minutes), deployment.deployed_at), end), end


def _baseline_key(rule: TriggerRule, previous: Deployment) -> dict[str, Any]:
    return {
        "metric": rule.metric,
        "lookbackMinutes": rule.window_minutes * BASELINE_WINDOWS,
        "previousDeploymentId": str(previous.pk),
    }


def baseline_window(rule: TriggerRule, deployment: Deployment, previous: Deployment) -> tuple[datetime, datetime]:
    """The previous deployment's executions a previous_version rule compares with: those in this environment
    over the `windowMinutes x 8` before the switch (research 5.2), clipped at its own start."""
    switch = deployment.deployed_at
    return max(previous.deployed_at, switch - timedelta(minutes=rule.window_minutes * BASELINE_WINDOWS)), switch


def _frozen_baseline(
    rule: TriggerRule, deployment: Deployment, previous: Deployment, state: TriggerState | None
) -> Any:
    """The baseline frozen for this rule on this deployment, if it still measures the same thing."""
    frozen = state.baseline if state is not None and state.deployment_id == deployment.pk else None
    return frozen if frozen is not None and frozen.get("key") == _baseline_key(rule, previous) else None


def _measure(
    rule: TriggerRule,
    deployment: Deployment,
    previous: Deployment | None,
    state: TriggerState | None,
    reader: Reader,
    window_end: datetime,
) -> tuple[Verdict, dict[str, Any] | None]:
    start, end = window_of(rule, deployment, window_end)
    compared = rule.baseline == Baseline.PREVIOUS_VERSION
    needs_variance = compared and METRICS[rule.metric].kind == Kind.MEAN
    candidate = reader.measure(
        rule.metric,
        version_id=deployment.version_id,
        environment=deployment.environment,
        start=start,
        end=end,
        variance=needs_variance,
    )
    if not compared or previous is None:
        return engine.judge(rule, candidate, None), None
    key = _baseline_key(rule, previous)
    frozen = _frozen_baseline(rule, deployment, previous, state)
    if frozen is not None:
        return engine.judge(rule, candidate, Measurement.from_json(frozen["measurement"])), None
    start, end = baseline_window(rule, deployment, previous)
    baseline = reader.measure(
        rule.metric,
        version_id=previous.version_id,
        environment=previous.environment,
        start=start,
        end=end,
        variance=needs_variance,
    )
    verdict = engine.judge(rule, candidate, baseline)
    sound = baseline.n >= rule.min_executions and (not needs_variance or baseline.variance is not None)
    # Frozen at first use, once it has enough executions: late reports of the old version change nothing after.
    to_freeze = {"key": key, "measurement": baseline.to_json(), "frozenAt": window_end.isoformat()} if sound else None
    return verdict, to_freeze


def _previous_deployments(deployments: Sequence[Deployment]) -> dict[UUID, Deployment]:
    """Each deployment's predecessor in its environment (the deployment active before it), by its id."""
    if not deployments:
        return {}
    earlier: dict[tuple[UUID, str], list[Deployment]] = defaultdict(list)
    rows = Deployment.objects.filter(
        template_id__in={deployment.template_id for deployment in deployments},
        environment__in={deployment.environment for deployment in deployments},
    ).order_by("-deployed_at")
    for row in rows:
        earlier[(row.template_id, row.environment)].append(row)
    found = {}
    for deployment in deployments:
        for row in earlier[(deployment.template_id, deployment.environment)]:
            if row.deployed_at < deployment.deployed_at:
                found[deployment.pk] = row
                break
    return found


@dataclass
class PairMeasured:
    """Step 1's result for one pair: the active deployment, its rules' measurements (and their states as
    read), or why there is nothing to evaluate."""

    deployment: Deployment | None
    measured: list[Measured]
    states: dict[UUID, TriggerState]
    skipped: str = ""


def measure_pairs(pairs: Sequence[tuple[UUID, str]], window_end: datetime, tick: datetime) -> list[PairMeasured]:
    """Step 1 for many (template, environment) pairs at once, in one read snapshot: each pair's active
    deployment and every enabled rule's verdict not yet evaluated for `tick`."""
    with one_snapshot():
        template_ids = {template_id for template_id, _ in pairs}
        active = {
            (deployment.template_id, deployment.environment): deployment
            for deployment in Deployment.objects.filter(
                template_id__in=template_ids, state=Deployment.State.ACTIVE
            ).select_related("version")
        }
        rules_of: dict[tuple[UUID, str], list[TriggerRule]] = defaultdict(list)
        for rule in TriggerRule.objects.filter(template_id__in=template_ids, enabled=True).order_by("created_at", "id"):
            rules_of[(rule.template_id, rule.environment)].append(rule)
        rule_ids = [rule.pk for pair in pairs for rule in rules_of[pair]]
        history = latest_history_ids(rule_ids)
        states = {state.rule_id: state for state in TriggerState.objects.filter(rule_id__in=rule_ids)}
        previous = _previous_deployments(
            [
                active[pair]
                for pair in pairs
                if pair in active and any(rule.baseline == Baseline.PREVIOUS_VERSION for rule in rules_of[pair])
            ]
        )
        due: list[tuple[tuple[UUID, str], TriggerRule]] = [
            (pair, rule)
            for pair in pairs
            if pair in active
            for rule in rules_of[pair]
            if rule.pk in history and not _already_evaluated(states.get(rule.pk), active[pair], tick)
        ]
        reader = Reader()
        # Every candidate window in a few queries; then the baselines not frozen yet, apart (they reach
        # further back, over other versions).
        reader.prefetch([_ask(rule, active[pair], window_end) for pair, rule in due])
        reader.prefetch(
            [
                Ask(rule.metric, before.version_id, before.environment, *baseline_window(rule, active[pair], before))
                for pair, rule in due
                if rule.baseline == Baseline.PREVIOUS_VERSION
                and (before := previous.get(active[pair].pk)) is not None
                and _frozen_baseline(rule, active[pair], before, states.get(rule.pk)) is None
            ]
        )
        due_of: dict[tuple[UUID, str], list[TriggerRule]] = defaultdict(list)
        for pair, rule in due:
            due_of[pair].append(rule)
        results = []
        for pair in pairs:
            deployment = active.get(pair)
            if deployment is None:
                results.append(PairMeasured(None, [], {}, "nothing is active"))
                continue
            if not rules_of[pair]:
                results.append(PairMeasured(deployment, [], {}, "no enabled rule"))
                continue
            measured: list[Measured] = []
            for rule in due_of[pair]:
                state = states.get(rule.pk)
                start, end = window_of(rule, deployment, window_end)
                try:
                    verdict, to_freeze = _measure(
                        rule, deployment, previous.get(deployment.pk), state, reader, window_end
                    )
                except Exception as exc:  # recorded as an `error` evaluation; the other rules go on
                    logger.exception("measuring rule %s failed", rule.pk)
                    verdict = Verdict(engine.ERROR, None, detail={"error": f"{type(exc).__name__}: {exc}"[:500]})
                    to_freeze = None
                measured.append(Measured(rule, history[rule.pk], start, end, verdict, to_freeze))
            pair_states = {rule.pk: states[rule.pk] for rule in rules_of[pair] if rule.pk in states}
            results.append(PairMeasured(deployment, measured, pair_states))
    return results


def _ask(rule: TriggerRule, deployment: Deployment, window_end: datetime) -> Ask:
    """What measuring `rule` on `deployment` will read: its candidate window."""
    return Ask(rule.metric, deployment.version_id, deployment.environment, *window_of(rule, deployment, window_end))


def _quiet(measured: list[Measured], states: dict[UUID, TriggerState], deployment: Deployment) -> bool:
    """Whether step 2 would change nothing but the rules' last tick: every rule found what it found last
    time on this deployment, "ok" or short of data, with no breach in progress and no baseline to freeze."""
    for item in measured:
        state = states.get(item.rule.pk)
        status = item.verdict.status
        if (
            state is None
            or state.deployment_id != deployment.pk
            or item.frozen_baseline is not None
            or status not in (engine.OK, engine.INSUFFICIENT_DATA)
            or state.last_status != status
            or state.streak
            or state.episode_fired
        ):
            return False
    return True


def _already_evaluated(state: TriggerState | None, deployment: Deployment, tick: datetime) -> bool:
    return (
        state is not None
        and state.deployment_id == deployment.pk
        and state.last_tick is not None
        and state.last_tick >= tick
    )


def evaluate_pair(
    *, template_id: UUID, environment: str, window_end: datetime, task_id: str = "", seconds: float | None = None
) -> PairResult:
    """Evaluate every enabled rule of the template in the environment against its active deployment, for
    the tick of `window_end`, and act on those that fire. Safe to call twice or concurrently."""
    (result,) = evaluate_pairs([(template_id, environment)], window_end=window_end, task_id=task_id, seconds=seconds)
    return result


def evaluate_pairs(
    pairs: Sequence[tuple[UUID, str]], *, window_end: datetime, task_id: str = "", seconds: float | None = None
) -> list[PairResult]:
    """evaluate_pair for each pair, with step 1 done for all of them at once (see the module's docstring)."""
    tick = tick_of(window_end, seconds)
    results = []
    quiet_rules: list[UUID] = []
    for (template_id, environment), found in zip(pairs, measure_pairs(pairs, window_end, tick), strict=True):
        result = PairResult(template_id, environment, tick)
        results.append(result)
        if found.skipped:
            result.skipped = found.skipped
        elif not found.measured:
            result.skipped = "already evaluated for this tick"
        elif found.deployment is not None and _quiet(found.measured, found.states, found.deployment):
            result.quiet, result.evaluated = True, len(found.measured)
            quiet_rules.extend(item.rule.pk for item in found.measured)
            count_evaluations(item.verdict.status for item in found.measured)
        else:
            assert found.deployment is not None
            _decide_and_record(result, found.deployment, found.measured, window_end, tick, task_id)
            if not result.skipped:  # else another worker holds the template: it evaluates them, and counts
                count_evaluations(item.verdict.status for item in found.measured)
    if quiet_rules:
        # Their last tick, in one statement: all that changed (a second worker would write the same).
        with one_writer_at_a_time(), transaction.atomic():
            TriggerState.objects.filter(rule_id__in=quiet_rules).exclude(last_tick__gte=tick).update(last_tick=tick)
    return results


def _decide_and_record(
    result: PairResult,
    deployment: Deployment,
    measured: list[Measured],
    window_end: datetime,
    tick: datetime,
    task_id: str,
) -> None:
    """Step 2 for one pair: take the locks (or leave it to the worker that holds them), decide, record, act;
    then check each rollback it made, as every server process now reads it."""
    template_id = deployment.template_id
    with one_writer_at_a_time(), transaction.atomic():
        # Lock order: the template, then the deployment (see the module's docstring).
        if not PromptTemplate.objects.select_for_update(skip_locked=True).filter(pk=template_id).values_list("pk"):
            result.skipped = "another worker holds the template"
            return
        locked = Deployment.objects.select_for_update(skip_locked=True).filter(
            pk=deployment.pk, state=Deployment.State.ACTIVE
        )
        if not locked.values_list("pk"):
            result.skipped = "the deployment measured is no longer active, or another worker holds it"
            return
        _decide_and_act(result, deployment, measured, window_end, tick, task_id)
    # Committed: check, as every server process now reads it, that render serves each rollback's target.
    for alert in result.alerts:
        if alert.rollback is not None:
            verify_rollback(alert.rollback)


def _decide_and_act(
    result: PairResult,
    deployment: Deployment,
    measured: list[Measured],
    window_end: datetime,
    tick: datetime,
    task_id: str,
) -> None:
    """Step 2, under the locks. Call inside a transaction holding the template's and deployment's locks."""
    ids = [item.rule.pk for item in measured]
    # Re-read: a rule edited, disabled or deleted since step 1 was measured by its old definition.
    still_enabled = set(TriggerRule.objects.filter(pk__in=ids, enabled=True).values_list("pk", flat=True))
    current = latest_history_ids(ids)
    states = {state.rule_id: state for state in TriggerState.objects.filter(rule_id__in=ids)}
    pair_rollback_rules = TriggerRule.objects.filter(
        template_id=deployment.template_id, environment=deployment.environment, action=Action.ROLLBACK, dry_run=False
    )
    blocked_until: datetime | None = None  # set when a rollback rule rolls back (research 5.3, 5 and 6)
    rows: list[TriggerEvaluation] = []
    fired: list[tuple[Measured, TriggerEvaluation]] = []
    touched: list[TriggerState] = []
    for item in measured:
        rule = item.rule
        if rule.pk not in still_enabled or current.get(rule.pk) != item.history_id:
            continue
        state = states.get(rule.pk) or TriggerState.objects.create(rule=rule)
        if _already_evaluated(state, deployment, tick):  # another worker did this tick first
            continue
        if state.deployment_id != deployment.pk:  # a new deployment starts with no streak and no baseline
            state.deployment_id, state.streak, state.episode_fired, state.baseline = deployment.pk, 0, False, None
            state.last_status = ""
        found_before, state.last_status = state.last_status, item.verdict.status
        if item.frozen_baseline is not None and state.baseline is None:
            state.baseline = item.frozen_baseline
        standing, decision = engine.advance(
            Standing(state.streak, state.episode_fired, state.cooldown_until),
            item.verdict.status,
            rule,
            now=window_end,
            blocked_until=blocked_until if rule.action == Action.ROLLBACK and not rule.dry_run else None,
        )
        state.streak, state.episode_fired, state.cooldown_until = (
            standing.streak,
            standing.episode_fired,
            standing.cooldown_until,
        )
        state.last_tick = tick
        touched.append(state)
        result.evaluated += 1
        if decision == engine.FIRE and rule.action == Action.ROLLBACK:
            # At least for the rest of this tick, even without a cooldown: one rollback at a time.
            blocked_until = standing.cooldown_until or window_end + timedelta(microseconds=1)
        uneventful = item.verdict.status == engine.OK or (
            item.verdict.status == engine.INSUFFICIENT_DATA
            and standing.streak == 0
            and found_before == item.verdict.status
        )
        if uneventful and decision == engine.NONE:
            # Not recorded: a plain "ok"; or too few executions again, with no breach in progress (a quiet
            # template's every tick: the first such evaluation is recorded, the state holds the rest).
            continue
        row = _evaluation_row(item, deployment, tick, standing.streak, decision, task_id)
        rows.append(row)
        if decision == engine.FIRE:
            fired.append((item, row))
        elif decision == engine.DRY_RUN:
            result.dry_runs += 1
    TriggerEvaluation.objects.bulk_create(rows)
    TriggerState.objects.bulk_update(
        touched, ["deployment_id", "streak", "episode_fired", "cooldown_until", "last_tick", "last_status", "baseline"]
    )
    if blocked_until is not None:
        # Every rollback rule of this template and environment holds the cooldown of the one that fired.
        (
            TriggerState.objects.filter(rule__in=pair_rollback_rules)
            .exclude(cooldown_until__gte=blocked_until)
            .update(cooldown_until=blocked_until)
        )
    result.recorded = len(rows)
    for item, row in fired:
        firing = _firing(item, deployment, row, task_id)
        result.firings.append(firing)
        result.alerts.append(act(firing))


def _evaluation_row(
    item: Measured, deployment: Deployment, tick: datetime, streak: int, decision: str, task_id: str
) -> TriggerEvaluation:
    verdict = item.verdict
    candidate, baseline = verdict.candidate, verdict.baseline
    return TriggerEvaluation(
        rule_id=item.rule.pk,
        rule_history_id=item.history_id,
        deployment=deployment,
        tick=tick,
        window_start=item.start,
        window_end=item.end,
        executions=candidate.executions if candidate else 0,
        sample_size=candidate.n if candidate else 0,
        baseline_size=baseline.n if baseline else None,
        observed=candidate.value if candidate else None,
        baseline_value=baseline.value if baseline else None,
        estimate=verdict.estimate,
        bound=verdict.bound,
        p_value=verdict.p_value,
        alpha=verdict.alpha,
        status=verdict.status,
        streak=streak,
        decision=decision,
        detail=verdict.detail,
        task_id=task_id[:255],
    )


def evaluation_json(row: TriggerEvaluation) -> dict[str, Any]:
    return {
        "id": str(row.pk),
        "tick": row.tick.isoformat(),
        "windowStart": row.window_start.isoformat(),
        "windowEnd": row.window_end.isoformat(),
        "executions": row.executions,
        "sampleSize": row.sample_size,
        "observed": row.observed,
        "baselineSize": row.baseline_size,
        "baselineValue": row.baseline_value,
        "estimate": row.estimate,
        "bound": row.bound,
        "pValue": row.p_value,
        "alpha": row.alpha,
        "status": row.status,
        "streak": row.streak,
        "decision": row.decision,
        "detail": row.detail,
    }


def _firing(item: Measured, deployment: Deployment, row: TriggerEvaluation, task_id: str) -> Firing:
    """The firing of a rule whose evaluation `row` (just recorded) decided to fire: the episode's last
    `consecutiveBreaches` breaching evaluations as evidence."""
    rule = item.rule
    breaches = list(
        TriggerEvaluation.objects.filter(
            rule_id=rule.pk, deployment=deployment, status=TriggerEvaluation.Status.BREACH, tick__lte=row.tick
        ).order_by("-tick")[: rule.consecutive_breaches]
    )
    breaches.reverse()
    baseline = item.verdict.baseline
    sentence = engine.summary(rule, item.verdict, rule.consecutive_breaches)
    evidence = {
        "ruleId": str(rule.pk),
        "ruleHistoryId": item.history_id,
        "rule": rule.description,
        "templateId": str(deployment.template_id),
        "environment": deployment.environment,
        "deploymentId": str(deployment.pk),
        "versionId": str(deployment.version_id),
        "version": deployment.version.number,
        "summary": sentence,
        "evaluations": [evaluation_json(breach) for breach in breaches],
        "baseline": baseline.to_json() if baseline is not None else None,
    }
    return Firing(
        rule=rule,
        rule_history_id=item.history_id,
        deployment=deployment,
        action=rule.action,
        summary=sentence,
        evidence=evidence,
        evaluations=tuple(breaches),
        task_id=task_id,
    )


# Pairs evaluated together: one step 1 for all (a few queries), so a chunk's cost is mostly its quiet pairs'
# reading; small enough that a chunk's task ends well within a tick.
PAIRS_PER_CHUNK = 250


def chunks(pairs: Sequence[tuple[UUID, str]], size: int = PAIRS_PER_CHUNK) -> list[list[tuple[UUID, str]]]:
    return [list(pairs[index : index + size]) for index in range(0, len(pairs), size)]


def evaluate_all(*, window_end: datetime | None = None, task_id: str = "") -> list[PairResult]:
    """One evaluation pass over every (template, environment) with enabled rules, in this process: what the
    beat's tasks do spread over workers (tasks.py), for benchmarks, tests and the admin."""
    moment = window_end or timezone.now()
    return [
        result
        for chunk in chunks(pairs_with_enabled_rules())
        for result in evaluate_pairs(chunk, window_end=moment, task_id=task_id)
    ]
