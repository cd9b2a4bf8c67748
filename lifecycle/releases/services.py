"""Every change of what is live where. Render and resolve read the result (selectors.py).

Also the rules that span templates and what is live: a new template or version is active in development
from the moment it is created. templates_app cannot know about deployments (it sits beneath this app), so
the API and the admin create templates and versions through the functions here, which call templates_app's
service and activate its result in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from abtesting import selectors as abtest_selectors
from abtesting import services as abtest_services
from lifecycle.core.environments import Environment, check_environment
from lifecycle.core.exceptions import DomainError, InvalidInput
from lifecycle.core.outbox.services import notify
from lifecycle.core.roles import Role, User, has_role, require_role
from lifecycle.core.webhooks.services import publish
from lifecycle.releases.exceptions import (
    CurrentNotActive,
    NoRollbackTarget,
    NotApproved,
    RollbackInProgress,
    RollbackInvalid,
    RolledBackMeanwhile,
    ServingChangedMeanwhile,
)
from lifecycle.releases.models import (
    ACTOR_LABEL_MAX_LENGTH,
    REASON_MAX_LENGTH,
    ROLLBACK_KINDS,
    Deployment,
    Rollback,
)
from lifecycle.releases.permissions import require_may_force, require_may_roll_back, require_may_roll_back_in_emergency
from lifecycle.releases.selectors import (
    active_deployment,
    active_version_id,
    check_rollback,
    is_approved_for,
    last_good_deployment,
    metrics_since_active,
    notification_emails,
    rollback_event,
)
from templates_app import services as template_services
from templates_app.composition import PartLookup
from templates_app.models import Category, PromptTemplate, TemplateVersion
from templates_app.permissions import require_may_change
from templates_app.selectors import template_row, version_by_id
from templates_app.semver import Bump
from templates_app.services import lock_template, version_json

logger = logging.getLogger(__name__)


@transaction.atomic
def create_template_live_in_development(
    *,
    actor: User,
    name: str,
    definition: Mapping[str, Any],
    description: str = "",
    category: str = Category.OTHER,
    tags: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    include_environment: str | None = None,
) -> PromptTemplate:
    """Create a template (templates_app.services.create_template) with its first version active in
    development: both or neither. Unpinned `{{> part}}` references take the part's version active in
    `include_environment` (production unless named)."""
    template = template_services.create_template(
        actor=actor,
        name=name,
        definition=definition,
        description=description,
        category=category,
        tags=tags,
        metadata=metadata,
        parts=part_lookup(include_environment),
    )
    assert template.latest_version is not None
    _activate(template.latest_version, Environment.DEVELOPMENT, actor)
    return template


@transaction.atomic
def create_version_live_in_development(
    *,
    actor: User,
    template_id: UUID,
    definition: Mapping[str, Any],
    metadata: dict[str, Any] | None = None,
    bump: Bump | None = None,
    include_environment: str | None = None,
    refresh_includes: bool = False,
) -> TemplateVersion:
    """Create the template's next version (templates_app.services.create_version), active in development
    at once: both or neither. Unpinned `{{> part}}` references take the part's version active in
    `include_environment` (unless named: where the latest version took its parts, else production)."""
    version = template_services.create_version(
        actor=actor,
        template_id=template_id,
        definition=definition,
        metadata=metadata,
        bump=bump,
        parts=part_lookup(include_environment),
        refresh_includes=refresh_includes,
    )
    _activate(version, Environment.DEVELOPMENT, actor)
    return version


def part_lookup(environment: str | None) -> PartLookup:
    """How a new version's unpinned references find their part: what is active in `environment`."""
    if environment is not None:
        check_environment(environment)
    return PartLookup(environment=environment, active_version_of=active_version_id)


def deploy_version(*, actor: User, version_id: UUID, environment: str) -> Deployment:
    """Make a version the one its template serves in `environment`.

    Development: deployers, and authors who maintain the template (templates_app.permissions). Staging and
    production: deployers, for a version approved for that environment. Deploying the version already
    active changes nothing. RolledBackMeanwhile (409) when a rollback changed what serves there while the
    deploy was on its way.
    """
    check_environment(environment)
    version = version_by_id(version_id)
    refusal = refusal_to_deploy(actor=actor, version=version, environment=environment)
    if refusal is not None:
        raise refusal
    # What the deployer replaces, as the request found it (read before the transaction: on SQLite a
    # transaction holds the write lock from its start). A rollback that lands before the deploy takes the
    # lock makes the deploy a 409: it must not silently bury a rollback it never saw.
    seen = active_deployment(version.template_id, environment)
    with transaction.atomic():
        return _activate(version, environment, actor, seen_active=seen.pk if seen is not None else None)


def refusal_to_deploy(*, actor: User, version: TemplateVersion, environment: str) -> DomainError | None:
    """Why `actor` may not deploy `version` to `environment`, or None if they may: the rules deploy_version
    enforces, for a page that offers the deploy only to whoever may take it."""
    try:
        if environment == Environment.DEVELOPMENT:
            if not has_role(actor, Role.DEPLOYER):
                require_may_change(actor, version.template, to="deploy its versions to development")
        else:
            require_role(actor, Role.DEPLOYER, to=f"deploy to {environment}")
    except DomainError as refusal:
        return refusal
    if not is_approved_for(version, environment):
        return NotApproved(
            f"Version {version.number} is not approved for {environment}: it needs an approved request "
            f"(POST /api/approval/submit, then each stage's decision)."
        )
    return None


_UNCHECKED: Any = object()


def _activate(
    version: TemplateVersion, environment: str, actor: User, *, seen_active: UUID | None = _UNCHECKED
) -> Deployment:
    """Supersede what is active and activate `version`. Call inside a transaction. With `seen_active` (the
    active deployment the caller saw before the lock): RolledBackMeanwhile if a rollback replaced it since."""
    # The template's lock serializes every change to what it serves; the partial unique index on active
    # deployments is the backstop should anything bypass it.
    lock_template(version.template_id)
    current = (
        Deployment.objects.select_for_update()
        .filter(template_id=version.template_id, environment=environment, state=Deployment.State.ACTIVE)
        .first()
    )
    if current is not None and current.version_id == version.pk:
        return current
    if (
        seen_active is not _UNCHECKED
        and current is not None
        and current.pk != seen_active
        and current.kind in ROLLBACK_KINDS
    ):
        raise RolledBackMeanwhile()
    if current is not None:
        current.supersede(by=actor)
        current._history_user = actor  # type: ignore[attr-defined]
        current.save()
    deployed_before = Deployment.objects.filter(version=version, environment=environment).exists()
    deployment = Deployment(
        template_id=version.template_id,
        version=version,
        environment=environment,
        kind=Deployment.Kind.REDEPLOY if deployed_before else Deployment.Kind.DEPLOY,
        deployed_by=actor,
    )
    deployment._history_user = actor  # type: ignore[attr-defined]
    deployment.save()
    publish(
        event="deployment.activated",
        actor=actor,
        template_id=version.template_id,
        data={
            "template": {"id": version.template_id, "name": version.template.name},
            "version": version_json(version),
            "environment": environment,
            "deploymentId": deployment.pk,
            "replacedVersion": version_json(current.version) if current is not None else None,
        },
    )
    return deployment


def promote_variant(*, actor: User, test_id: UUID, variant_key: str) -> tuple[Any, Deployment]:
    """POST /api/abtests/{id}/promote: complete the A/B test with the variant as its winner and deploy the
    variant's version to the test's environment, in one transaction (deployers; the version was approved for
    the environment when the test started, and deploy's own rules are checked again here)."""
    template_id = abtest_selectors.abtest_by_id(test_id).template_id
    with transaction.atomic():
        lock_template(template_id)  # deploys' lock order: the template first, then the test
        test, variant = abtest_services.finish_with_winner(actor=actor, test_id=test_id, variant_key=variant_key)
        refusal = refusal_to_deploy(actor=actor, version=variant.template_version, environment=test.environment)
        if refusal is not None:
            raise refusal
        deployment = _activate(variant.template_version, test.environment, actor)
        publish(
            event="abtest.promoted",
            actor=actor,
            template_id=template_id,
            data={
                "abTest": {"id": test.pk, "name": test.name, "environment": test.environment, "winner": variant_key},
                "version": version_json(variant.template_version),
                "deploymentId": deployment.pk,
            },
        )
        return test, deployment


# Rollback: manual, emergency and automatic, one way of doing it (_roll_back).


def initiate_rollback(
    *,
    actor: User,
    current_version_id: UUID,
    target_version_id: UUID,
    reason: str,
    environment: str = Environment.PRODUCTION,
    force: bool = False,
) -> Rollback:
    """A deployer's rollback from the current version to a chosen target (POST /api/rollback/initiate).

    The target must pass lifecycle.releases.selectors.check_rollback, checked again under the template's
    lock: RollbackInvalid (400) naming each reason, or CurrentNotActive (409) when the current version is no
    longer the active one. `force` (superusers only) lets a breaking interface change through.
    """
    require_may_roll_back(actor)
    if force:
        require_may_force(actor)
    reason = _checked_reason(reason)
    check_environment(environment)
    current = version_by_id(current_version_id)
    target = version_by_id(target_version_id)

    def choose(active: Deployment | None) -> tuple[TemplateVersion, bool]:
        check = check_rollback(current=current, target=target, environment=environment, active=active, force=force)
        if check.only_current_not_active:
            raise CurrentNotActive(f"Cannot roll back: {check.problems[0].message}.")
        if not check.valid:
            reasons = "; ".join(problem.message for problem in check.problems)
            raise RollbackInvalid(f"This rollback is not valid: {reasons}.", fields=check.fields())
        return target, check.forced

    return _roll_back(
        template_id=current.template_id,
        environment=environment,
        rollback_type=Rollback.Type.MANUAL,
        actor=actor,
        reason=reason,
        choose=choose,
    )


def roll_back_in_emergency(*, actor: User, template_id: UUID, environment: str, reason: str) -> Rollback:
    """Back to the last good version, at once, without new approvals (POST /api/rollback/emergency):
    the most recent earlier deployment there that was not itself rolled back, never of a version a rule
    rolled back (lifecycle.releases.selectors.last_good_deployment). NoRollbackTarget (409) when there is
    none, or nothing is active; ServingChangedMeanwhile (409) when another rollback or a deploy changed what
    serves there since the request looked."""
    require_may_roll_back_in_emergency(actor)
    reason = _checked_reason(reason)
    check_environment(environment)
    template_row(template_id)
    # What the caller rolls back, as the request found it: two on-call people pressing the button at once
    # must not roll back twice (the second would roll back the first one's target).
    seen = active_deployment(template_id, environment)

    def choose(active: Deployment | None) -> tuple[TemplateVersion, bool]:
        if active is None:
            raise NoRollbackTarget(f"Nothing is active in {environment}: there is nothing to roll back.")
        if seen is None or active.pk != seen.pk:
            raise ServingChangedMeanwhile()
        target = last_good_deployment(active, automatic=False)
        if target is None:
            raise NoRollbackTarget(
                f"There is no earlier good version in {environment} to roll back to from {active.version.number}: "
                "every earlier deployment there was rolled back, or of this same version."
            )
        return target.version, False

    return _roll_back(
        template_id=template_id,
        environment=environment,
        rollback_type=Rollback.Type.EMERGENCY,
        actor=actor,
        reason=reason,
        choose=choose,
    )


class _NotActing(Exception):
    """An automatic rollback that must not happen; the message says why (for the log)."""


def roll_back_automatically(
    *,
    template_id: UUID,
    environment: str,
    breaching_deployment_id: UUID,
    reason: str,
    evidence: dict[str, Any],
    rule_label: str,
) -> Rollback | None:
    """The rule engine's rollback (research 5.3): the completed Rollback, or None when it must not act.

    - Only if the breaching deployment is still the active one, checked under the template's lock
      (compare-and-swap); else None: someone deployed or rolled back meanwhile.
    - To the last good version (lifecycle.releases.selectors.last_good_deployment, automatic=True): not
      rolled back, never a version a rule rolled back, still approved for the environment, older than the
      breaching version (never roll forward), and not breaking its callers' variables. None when there is no
      such version: the caller alerts "no safe target" instead.
    - At most one rollback in progress per template and environment (a database constraint): None for the
      loser of a race.
    The version rolled back from is marked rolled back by a rule, so no automatic rollback returns to it.

    Takes the template's row lock first, as deploys do: call it outside a transaction, or at least before
    locking any deployment row, or the two lock orders could deadlock. `rule_label` names who acted in the
    records ("system:rule:<id>"); `evidence` (JSON) is kept with the rollback as given.
    """
    reason = _checked_reason(reason)
    check_environment(environment)
    label = rule_label.strip() if isinstance(rule_label, str) else ""
    if not label or len(label) > ACTOR_LABEL_MAX_LENGTH:
        raise InvalidInput.at("rule_label", f"must be 1 to {ACTOR_LABEL_MAX_LENGTH} characters")
    if not isinstance(evidence, dict):
        raise InvalidInput.at("evidence", "must be a JSON object")

    def choose(active: Deployment | None) -> tuple[TemplateVersion, bool]:
        if active is None or active.pk != breaching_deployment_id:
            raise _NotActing("the breaching deployment is no longer the active one")
        target = last_good_deployment(active, automatic=True)
        if target is None:
            raise _NotActing("there is no safe target")
        return target.version, False

    try:
        return _roll_back(
            template_id=template_id,
            environment=environment,
            rollback_type=Rollback.Type.AUTOMATIC,
            actor=None,
            label=label,
            reason=reason,
            choose=choose,
            evidence=evidence,
        )
    except (_NotActing, RollbackInProgress) as why:
        logger.info(
            "automatic rollback of template %s in %s (deployment %s, %s) not done: %s",
            template_id,
            environment,
            breaching_deployment_id,
            label,
            why,
        )
        return None


def _checked_reason(reason: Any) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise InvalidInput.at("reason", "is required: say why you roll back")
    if len(text) > REASON_MAX_LENGTH:
        raise InvalidInput.at("reason", f"must have at most {REASON_MAX_LENGTH} characters")
    if "\x00" in text:  # the API's JSON parser refuses it; a form reaches here without that check
        raise InvalidInput.at("reason", "must not contain NUL characters")
    return text


_KIND_OF = {
    Rollback.Type.MANUAL: Deployment.Kind.MANUAL_ROLLBACK,
    Rollback.Type.EMERGENCY: Deployment.Kind.EMERGENCY_ROLLBACK,
    Rollback.Type.AUTOMATIC: Deployment.Kind.AUTOMATIC_ROLLBACK,
}


def _roll_back(
    *,
    template_id: UUID,
    environment: str,
    rollback_type: str,
    actor: User | None,
    reason: str,
    choose: Callable[[Deployment | None], tuple[TemplateVersion, bool]],
    label: str = "",
    evidence: dict[str, Any] | None = None,
) -> Rollback:
    """Lock the template, let `choose` look at what is active and pick the target (or refuse), then in the
    same transaction: record the rollback (pending: the in-progress constraint), mark the active deployment
    rolled back, make the target active, complete the record. After the commit, check that render's own
    lookup serves the target, and record it.

    A failure past the refusals (the database refused a write) undoes the whole change and is recorded as a
    failed rollback, in a transaction of its own."""
    attempt: dict[str, Any] | None = None
    try:
        with transaction.atomic():
            lock_template(template_id)
            active = active_deployment(template_id, environment, lock=True)
            target, forced = choose(active)
            assert active is not None  # every `choose` refuses when nothing is active
            attempt = {
                "type": rollback_type,
                "template_id": template_id,
                "environment": environment,
                "from_deployment": active,
                "from_version": active.version,
                "to_version": target,
                "reason": reason,
                "initiated_by": actor,
                "initiated_by_label": label,
                "forced": forced,
                "evidence": evidence or {},
                "metrics": metrics_since_active(active),
            }
            rollback = Rollback(**attempt)
            _claim(rollback, actor)
            rollback.start()
            active.roll_back(by=actor, label=label, by_rule=rollback_type == Rollback.Type.AUTOMATIC)
            active._history_user = actor  # type: ignore[attr-defined]
            active.save()
            deployment = Deployment(
                template_id=template_id,
                version=target,
                environment=environment,
                kind=_KIND_OF[Rollback.Type(rollback_type)],
                deployed_by=actor,
                deployed_by_label=label,
                reason=reason,
            )
            deployment._history_user = actor  # type: ignore[attr-defined]
            deployment.save()
            rollback.complete(to_deployment=deployment)
            rollback._history_user = actor  # type: ignore[attr-defined]
            rollback.save()
            _notify_safely(rollback)
            publish(
                event="rollback.completed",
                actor=actor,
                template_id=template_id,
                data={
                    "rollback": {
                        "id": rollback.pk,
                        "type": rollback_type,
                        "reason": reason,
                        "initiatedBy": label or (actor.get_username() if actor is not None else None),
                        "rule": (evidence or {}).get("rule"),
                    },
                    "environment": environment,
                    "fromVersion": version_json(active.version),
                    "toVersion": version_json(target),
                    "deploymentId": deployment.pk,
                },
            )
    except (DomainError, _NotActing):
        raise  # a refusal: nothing changed, nothing to record
    except Exception as exc:
        if attempt is not None:
            _record_failure(attempt, why=f"{type(exc).__name__}: {exc}")
        raise
    verify_rollback(rollback)
    return rollback


def _claim(rollback: Rollback, actor: User | None) -> None:
    """Insert the record in `pending`: the partial unique constraint lets one rollback per template and
    environment be in progress. The template's lock already serializes ours; the constraint holds whatever
    else writes (research 5.3, rule 1)."""
    rollback._history_user = actor  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            rollback.save()
    except IntegrityError as exc:
        if not _is_in_progress_violation(exc, rollback):
            raise
        raise RollbackInProgress() from None


def _is_in_progress_violation(exc: IntegrityError, rollback: Rollback) -> bool:
    # PostgreSQL names the constraint; SQLite names its columns only, and writes one transaction at a time,
    # so the row that holds the place is there to see.
    return (
        "one_rollback_in_progress_per_environment" in str(exc)
        or Rollback.objects.filter(
            template_id=rollback.template_id, environment=rollback.environment, state__in=Rollback.IN_PROGRESS
        ).exists()
    )


def _record_failure(attempt: dict[str, Any], *, why: str) -> None:
    """Keep a failed attempt (its transaction was undone): what was tried, and why it failed."""
    try:
        with transaction.atomic():
            failed = Rollback(**attempt)
            failed.fail(why=why)
            failed._history_user = attempt["initiated_by"]  # type: ignore[attr-defined]
            failed.save()
    except Exception:  # the database that refused the rollback may refuse this too: the log keeps it
        logger.exception("could not record the failed rollback of template %s", attempt["template_id"])


def verify_rollback(rollback: Rollback) -> None:
    """The post-rollback check (research 5.3, rule 10): the version render's own lookup answers now, read
    as every server process reads it (the database, after the commit), recorded on the rollback.

    Run by every rollback as it returns; the rule engine, whose rollbacks happen inside its own transaction,
    runs it again after that transaction commits (lifecycle.releases.rules.evaluation.evaluate_pair)."""
    served = active_version_id(rollback.template_id, rollback.environment)
    rollback.verified_at = timezone.now()
    rollback.verified_version_id = served
    if served != rollback.to_version_id:
        logger.warning(
            "rollback %s: render serves version %s in %s, not the target %s (changed again meanwhile?)",
            rollback.pk,
            served,
            rollback.environment,
            rollback.to_version_id,
        )
    rollback._history_user = rollback.initiated_by  # type: ignore[attr-defined]
    rollback.save(update_fields=["verified_at", "verified_version"])


def _notify_safely(rollback: Rollback) -> None:
    """_notify, in a savepoint: a notification that cannot be written never undoes the rollback."""
    try:
        with transaction.atomic():
            _notify(rollback)
    except Exception:
        logger.exception("rollback %s: could not write its notification", rollback.pk)


def _notify(rollback: Rollback) -> None:
    """Tell the template's maintainers and the deployers that a rollback happened ("rollback.completed"),
    by email through the outbox: called inside the rollback's transaction, so that the delivery commits with
    the rollback and is sent by a worker after it. (A rule's own alert, with its webhook, is sent by the rule
    engine.)"""
    recipients = notification_emails(rollback)
    if not recipients:
        return
    notify(
        event="rollback.completed",
        payload=rollback_event(rollback),
        emails=recipients,
        subject=(
            f"[{rollback.environment}] {rollback.template.name}: {rollback.get_type_display().lower()} rollback "
            f"{rollback.from_version.number} -> {rollback.to_version.number}"
        ),
        source=f"rollback:{rollback.pk}",
    )
