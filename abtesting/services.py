"""Every write of A/B tests: create, start (and resume), pause, stop, cancel.

The API and the admin both call these, so a test started in the admin obeys exactly the checks of one
started over the API. Each change locks the test's row and re-checks its state under the lock: two
deployers pressing "start" and "cancel" at the same moment are served one after the other, the second
seeing the first's result. Starting (or resuming) also takes the template's row lock first, as deploys and
rollbacks do (templates_app.services.lock_template): what a template serves changes one thing at a time,
and the locks are always taken in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed, can_proceed

from abtesting.exceptions import (
    ABTestNotFound,
    AnotherTestRunning,
    EndDatePassed,
    IllegalTransition,
    VariantNotApproved,
)
from abtesting.models import DEFAULT_CONFIDENCE_LEVEL, DEFAULT_MINIMUM_SAMPLE_SIZE, ABTest, Variant
from abtesting.permissions import require_may_create_test, require_may_run_tests
from abtesting.results import clear_winner, results_of
from abtesting.selectors import running_test
from abtesting.validation import check_test, resolve_template
from approvals.selectors import approved_environments
from lifecycle.core.environments import Environment
from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.roles import User
from lifecycle.core.webhooks.services import publish
from templates_app.services import lock_template


@transaction.atomic
def create_test(
    *,
    actor: User,
    name: str,
    variants: Sequence[Mapping[str, Any]],
    template_id: UUID | None = None,
    environment: str = Environment.PRODUCTION,
    description: str = "",
    hypothesis: str = "",
    traffic_split: Mapping[str, Any] | None = None,
    success_metrics: Sequence[Mapping[str, Any]] | None = None,
    guardrail_metrics: Sequence[Mapping[str, Any]] | None = None,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    minimum_sample_size: int = DEFAULT_MINIMUM_SAMPLE_SIZE,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    auto_stop: bool = False,
) -> ABTest:
    """A test in `draft`, with its variants (abtesting.validation says what makes a sound test: a 400 naming
    each wrong field, nothing stored).

    `variants`: [{id, name?, description?, template_version_id, traffic_percentage?, control?}], in the
    order traffic is laid out; the first is the control unless one says control: true. `traffic_split`
    ({variant id: percentage}), when given, must agree with the variants' own percentages (or give those
    left out). Without `template_id`, the template is that of the first variant's version. Who may create:
    abtesting.permissions (the template's authors who maintain it, deployers, superusers).
    """
    template, problems = resolve_template(template_id, variants)
    if template is None:
        raise InvalidInput.of(problems)
    require_may_create_test(actor, template)
    checked, problems = check_test(
        template=template,
        environment=environment,
        name=name,
        description=description,
        hypothesis=hypothesis,
        variants=variants,
        traffic_split=traffic_split,
        success_metrics=success_metrics,
        guardrail_metrics=guardrail_metrics,
        confidence_level=confidence_level,
        minimum_sample_size=minimum_sample_size,
        start_date=start_date,
        end_date=end_date,
        auto_stop=auto_stop,
    )
    if checked is None:
        raise InvalidInput.of(problems)
    test = ABTest(
        template=checked.template,
        environment=checked.environment,
        name=checked.name,
        description=checked.description,
        hypothesis=checked.hypothesis,
        success_metrics=checked.success_metrics,
        guardrail_metrics=checked.guardrail_metrics,
        confidence_level=checked.confidence_level,
        minimum_sample_size=checked.minimum_sample_size,
        start_date=checked.start_date,
        end_date=checked.end_date,
        auto_stop=checked.auto_stop,
        created_by=actor,
    )
    _save(test, actor)
    for position, variant in enumerate(checked.variants):
        row = Variant(
            test=test,
            key=variant.key,
            position=position,
            name=variant.name,
            description=variant.description,
            template_version=variant.version,
            traffic_percentage=variant.traffic_percentage,
            is_control=variant.is_control,
        )
        _save(row, actor)
    return test


def start_test(*, actor: User, test_id: UUID) -> ABTest:
    """Start a draft, or resume a paused test: `running`, so render serves its variants.

    Needs the deployer role; every variant's version approved for the test's environment (development:
    always); its end date not passed; and no other test running for the template in the environment
    (AnotherTestRunning, 409: checked under the template's lock, and held by a database constraint
    whatever else writes)."""
    require_may_run_tests(actor, to="start an A/B test")
    template_id = _template_of(test_id)
    with transaction.atomic():
        lock_template(template_id)
        test = _locked(test_id)
        if test.state == ABTest.State.PAUSED:
            transition: Callable[[], None] = test.resume
        else:
            transition = test.start
        _require_can(test, "start")
        _require_approved(test)
        if test.end_date is not None and test.end_date <= timezone.now():
            raise EndDatePassed(f"The test's end date ({test.end_date.isoformat()}) has passed: it cannot run again.")
        other = running_test(test.template_id, test.environment, other_than=test.pk)
        if other is not None:
            raise _another_running(test, other)
        _apply(test, "start", lambda _: transition(), actor)
        _claim_running(test, actor)
        return test


def pause_test(*, actor: User, test_id: UUID) -> ABTest:
    """Pause a running test: render serves the active deployment again until it is resumed (start_test)."""
    require_may_run_tests(actor, to="pause an A/B test")
    return _change(test_id, actor, "pause", lambda test: test.pause())


def stop_test(*, actor: User, test_id: UUID, reason: str = "") -> ABTest:
    """Complete a running or paused test: its results are final, render no longer serves its variants."""
    require_may_run_tests(actor, to="stop an A/B test")
    why = _checked_reason(reason) or f"stopped by {actor.get_username()}"
    return _change(test_id, actor, "stop", lambda test: test.complete(by=actor, reason=why))


def finish_with_winner(*, actor: User, test_id: UUID, variant_key: str) -> tuple[ABTest, Variant]:
    """Complete a running or paused test with `variant_key` as its winner (deployers); the variant, whose
    version the caller deploys in the same transaction (lifecycle.releases.services.promote_variant: the
    layer that owns deployments composes the two). Call inside a transaction."""
    require_may_run_tests(actor, to="promote an A/B test's variant")
    if not isinstance(variant_key, str) or not variant_key:
        raise InvalidInput.at("variantId", "must be the id of one of the test's variants")
    test = _locked(test_id)
    _require_can(test, "stop")
    variant = test.variants.select_related("template_version").filter(key=variant_key).first()
    if variant is None:
        known = ", ".join(test.variants.order_by("position").values_list("key", flat=True))
        raise InvalidInput.at("variantId", f"is not a variant of this test (its variants: {known})")
    why = f"variant {variant_key} promoted by {actor.get_username()}"
    _apply(test, "stop", lambda test: test.complete(by=actor, reason=why, winner=variant_key), actor)
    _save(test, actor)
    return test, variant


def stop_ended_tests(*, now: datetime | None = None) -> list[UUID]:
    """Complete every running or paused test whose end date has come (the beat's task, no user acting);
    the ids of those it completed. Each in its own transaction, under its row lock, so a test that someone
    stopped or that was changed meanwhile is left as it is."""
    moment = now or timezone.now()
    due = ABTest.objects.filter(
        state__in=[ABTest.State.RUNNING, ABTest.State.PAUSED], end_date__isnull=False, end_date__lte=moment
    ).values_list("pk", flat=True)
    stopped = []
    for test_id in list(due):
        with transaction.atomic():
            test = _locked(test_id)
            if test.state not in (ABTest.State.RUNNING, ABTest.State.PAUSED) or test.end_date is None:
                continue
            if test.end_date > moment:
                continue
            _apply(test, "stop", partial(_complete_by_date, end_date=test.end_date), None)
            _save(test, None)
            stopped.append(test.pk)
    return stopped


def stop_clear_tests(*, now: datetime | None = None) -> list[UUID]:
    """Complete every running test that stops by itself (`autoStop`) once its results name a clear winner
    by the always-valid interval (results.clear_winner); the ids of those it completed. The results are
    read first, without locks; the test is then completed under its row lock if it still runs."""
    moment = now or timezone.now()
    stopped = []
    for test in ABTest.objects.filter(state=ABTest.State.RUNNING, auto_stop=True):
        winner = clear_winner(results_of(test, now=moment))
        if winner is None:
            continue
        with transaction.atomic():
            locked = _locked(test.pk)
            if locked.state != ABTest.State.RUNNING:
                continue
            _apply(locked, "stop", partial(_complete_with_clear_winner, winner=winner), None)
            _save(locked, None)
            stopped.append(locked.pk)
    return stopped


def _complete_with_clear_winner(test: ABTest, *, winner: str) -> None:
    test.complete(by=None, reason=f"stopped by itself: {winner} is clearly best (always-valid interval)", winner=winner)


def _complete_by_date(test: ABTest, *, end_date: datetime) -> None:
    test.complete(by=None, reason=f"its end date ({end_date.isoformat()}) came")


def cancel_test(*, actor: User, test_id: UUID, reason: str = "") -> ABTest:
    """Cancel a draft (whoever may create the template's tests) or a paused test (deployers): it ends
    without results that count."""
    why = _checked_reason(reason) or f"cancelled by {actor.get_username()}"
    with transaction.atomic():
        test = _locked(test_id)
        if test.state == ABTest.State.DRAFT:
            require_may_create_test(actor, test.template, to="cancel an A/B test of it")
        else:
            require_may_run_tests(actor, to="cancel an A/B test that has run")
        _require_can(test, "cancel")
        _apply(test, "cancel", lambda test: test.cancel(by=actor, reason=why), actor)
        _save(test, actor)
        return test


_REASON_MAX_LENGTH = 500


def _checked_reason(reason: Any) -> str:
    if not isinstance(reason, str):
        raise InvalidInput.at("reason", "must be a string")
    text = reason.strip()
    if len(text) > _REASON_MAX_LENGTH:
        raise InvalidInput.at("reason", f"must have at most {_REASON_MAX_LENGTH} characters")
    return text


def _change(test_id: UUID, actor: User, verb: str, transition: Callable[[ABTest], None]) -> ABTest:
    with transaction.atomic():
        test = _locked(test_id)
        _require_can(test, verb)
        _apply(test, verb, transition, actor)
        _save(test, actor)
        return test


_TRANSITIONS = {"start": ("start", "resume"), "pause": ("pause",), "stop": ("complete",), "cancel": ("cancel",)}
_ALLOWED_FROM = {
    "start": "a draft or a paused test",
    "pause": "a running test",
    "stop": "a running or paused test",
    "cancel": "a draft or a paused test",
}


def _illegal(test: ABTest, verb: str) -> IllegalTransition:
    return IllegalTransition(f"This test is {test.state}: only {_ALLOWED_FROM[verb]} can {verb}.")


def _require_can(test: ABTest, verb: str) -> None:
    """IllegalTransition (409) unless the test's state allows `verb` (the model's transitions say which),
    checked before the other rules so that a finished test is refused for what it is."""
    if not any(can_proceed(getattr(test, name)) for name in _TRANSITIONS[verb]):
        raise _illegal(test, verb)


# What webhook subscribers hear of each change (a pause is not a lifecycle event of theirs).
_EVENT_OF = {"start": "abtest.started", "stop": "abtest.stopped", "cancel": "abtest.stopped"}


def _apply(test: ABTest, verb: str, transition: Callable[[ABTest], None], actor: User | None) -> None:
    """The transition, or IllegalTransition; then its event for webhook subscribers, in the same transaction."""
    try:
        transition(test)
    except TransitionNotAllowed:
        raise _illegal(test, verb) from None
    if verb in _EVENT_OF:
        data = {
            "abTest": {
                "id": test.pk,
                "name": test.name,
                "environment": test.environment,
                "status": test.state,
                "winner": test.winner or None,
                "reason": test.stop_reason,
            },
            "variants": [
                {"id": key, "versionId": version_id}
                for key, version_id in test.variants.order_by("position").values_list("key", "template_version_id")
            ],
        }
        publish(event=_EVENT_OF[verb], actor=actor, template_id=test.template_id, data=data)


def _template_of(test_id: UUID) -> UUID:
    template_id = ABTest.objects.filter(pk=test_id).values_list("template_id", flat=True).first()
    if template_id is None:
        raise ABTestNotFound()
    return template_id


def _locked(test_id: UUID) -> ABTest:
    """The test, locked until the transaction ends."""
    test = ABTest.objects.select_for_update(of=("self",)).select_related("template").filter(pk=test_id).first()
    if test is None:
        raise ABTestNotFound()
    return test


def _require_approved(test: ABTest) -> None:
    variants = list(test.variants.select_related("template_version").order_by("position"))
    approved = approved_environments([variant.template_version_id for variant in variants])
    missing = [variant for variant in variants if test.environment not in approved[variant.template_version_id]]
    if missing:
        names = ", ".join(f"{variant.key} (version {variant.template_version.number})" for variant in missing)
        raise VariantNotApproved(
            f"Every variant must be approved for {test.environment} before the test starts; not yet: {names} "
            "(POST /api/approval/submit, then each stage's decision)."
        )


def _another_running(test: ABTest, other: ABTest | None) -> AnotherTestRunning:
    named = f" ('{other.name}', {other.pk})" if other is not None else ""
    return AnotherTestRunning(
        f"Another A/B test of this template{named} runs in {test.environment}; stop or pause it first."
    )


def _claim_running(test: ABTest, actor: User) -> None:
    """Save the test as running: the partial unique constraint lets one test per template and environment
    run. The template's lock already serializes ours; the constraint holds whatever else writes."""
    try:
        with transaction.atomic():
            _save(test, actor)
    except IntegrityError as exc:
        # PostgreSQL names the constraint; SQLite names its columns only, and writes one transaction at a
        # time, so the test that holds the place is there to see.
        others = ABTest.objects.filter(
            template_id=test.template_id, environment=test.environment, state=ABTest.State.RUNNING
        ).exclude(pk=test.pk)
        if "one_running_abtest_per_environment" not in str(exc) and not others.exists():
            raise
        raise _another_running(test, others.first()) from None


def _save(obj: ABTest | Variant, actor: User | None) -> None:
    obj._history_user = actor  # type: ignore[union-attr]
    obj.save()
