"""The rollback benchmark's in-process part: one evaluation pass of the rule engine over many rules, timed.

Run by bench/rollback.py with the benchmark's environment (its own LIFECYCLE_DATA_DIR, or a throwaway
PostgreSQL's DATABASE_URL), never on the user's database; prints its result as JSON, alone on the last
line of stdout (progress goes to stderr). Commands, in the order the driver runs them:

- setup: templates each with a version active in production (approved stage by stage and deployed through
  the services the API uses) and one enabled rule each; one template in four also served an earlier
  version first, for a rule comparing with the previous version's baseline.
- report: executions of those templates' production versions over the last 30 days, checked and stored
  through analytics' services in batches as the API stores them, then rolled up as the worker does.
  Repeated, it adds more.
- evaluate: time `evaluate_all` (what the beat's tasks do, spread over workers) a few times, each pass at a
  new tick.
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on the path: the project must, for its apps (one is named analytics).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import in_process
from bench.in_process import django_setup, say, user_with_roles
from bench.seed_registry import definition_for

DAYS = 30
# Deployments are backdated past the executions' span, so that every window of a rule holds executions:
# the deploy service stamps them with the real clock (see _backdate).
DEPLOYED_DAYS_AGO = DAYS + 1
# Templates whose rule compares with the previous version switched to their current version this long ago.
SWITCHED_DAYS_AGO = DAYS // 2
BATCH = 1000  # reports per stored batch: the API's largest
TEMPLATES_PER_TRANSACTION = 50  # one commit per template would make SQLite fsync thousands of times
REVIEWERS = ("technical", "qa", "security", "business")  # production's approval stages, in order

# The traffic: template i takes a share proportional to 1 / (i + 1) (Zipf), as a few busy prompts and a long
# tail do; so busy templates' windows hold plenty of executions and the tail's too few to judge.
STATUSES = ("success", "error", "timeout")
STATUS_WEIGHTS = (97, 2, 1)
REGIONS = ("us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-1")

# One rule per template, cycling through these. Thresholds are far from what the traffic does, so that a
# rule's state does not change from pass to pass (a rule that fired would roll its template back and the
# next pass would measure a different deployment): the passes measure what every tick costs.
WINDOWS = (15, 60, 360, 1440)
MIN_EXECUTIONS = (20, 50, 100)
ABSOLUTE_RULES = (
    {"metric": "success_rate", "operator": "lt", "threshold": 50.0},
    {"metric": "error_rate", "operator": "gt", "threshold": 50.0},
    {"metric": "p95_response_time", "operator": "gt", "threshold": 60_000.0},
    {"metric": "average_cost", "operator": "gt", "threshold": 0.05},
)
PREVIOUS_VERSION_RULES = (
    {"metric": "error_rate", "operator": "gt", "threshold": 500.0},
    {"metric": "p95_response_time", "operator": "gt", "threshold": 500.0},
    {"metric": "average_cost", "operator": "gt", "threshold": 500.0},
    {"metric": "success_rate", "operator": "lt", "threshold": 50.0},
)
# Every BREACHING_EVERY-th template's rule breaches on every tick where it has enough executions (p95 above
# 100 ms), as a rule on its way to firing does: such evaluations are recorded, plain "ok" ones are not. It
# needs more breaches in a row than the benchmark makes passes, so it never fires.
BREACHING_EVERY = 20
BREACHING_RULE = {"metric": "p95_response_time", "operator": "gt", "threshold": 100.0, "consecutive_breaches": 100}


def state_path() -> Path:
    """The seeded templates' ids, kept beside the database for the next commands."""
    return in_process.state_path("rollback-bench.json")


def rule_for(index: int, previous_version: bool) -> dict[str, Any]:
    """Template `index`'s rule: its metric, threshold and window by rotation."""
    if index % BREACHING_EVERY == BREACHING_EVERY - 1:
        fields: dict[str, Any] = dict(BREACHING_RULE)
    elif previous_version:
        fields = {**PREVIOUS_VERSION_RULES[(index // 4) % len(PREVIOUS_VERSION_RULES)], "baseline": "previous_version"}
    else:
        fields = dict(ABSOLUTE_RULES[index % len(ABSOLUTE_RULES)])
    return {
        "window_minutes": WINDOWS[index % len(WINDOWS)],
        "min_executions": MIN_EXECUTIONS[index % len(MIN_EXECUTIONS)],
        "action": "rollback" if index % 2 else "alert",
        **fields,
    }


def _backdate(deployment_id: Any, deployed_at: datetime) -> None:
    """Move a deployment back in time, and the end of the one it replaced with it. The deploy service stamps
    deployments with the real clock; executions reported for a deployment's past need it older than them."""
    from lifecycle.releases.models import Deployment

    deployment = Deployment.objects.get(pk=deployment_id)
    # The deployment it replaced ended a moment ago (the real clock): it ends where this one now starts.
    Deployment.objects.filter(
        template_id=deployment.template_id, environment=deployment.environment, ended_at__gt=deployed_at
    ).update(ended_at=deployed_at)
    Deployment.objects.filter(pk=deployment_id).update(deployed_at=deployed_at)


def setup(args: argparse.Namespace) -> dict[str, Any]:
    """Create the templates, their production deployments and one enabled rule each."""
    django_setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from approvals.services import approve_stage, submit_for_approval
    from lifecycle.releases.rules.services import create_rule
    from lifecycle.releases.services import (
        create_template_live_in_development,
        create_version_live_in_development,
        deploy_version,
    )

    started = time.perf_counter()
    author = user_with_roles("bench", "author")
    deployer = user_with_roles("bench-deployer", "deployer")
    reviewers = [user_with_roles(f"bench-{role}", role) for role in REVIEWERS]
    now = timezone.now()
    first_at, switch_at = now - timedelta(days=DEPLOYED_DAYS_AGO), now - timedelta(days=SWITCHED_DAYS_AGO)

    def deploy_to_production(version: Any, at: datetime) -> None:
        request = submit_for_approval(actor=author, version_id=version.pk, environment="production")
        for index, reviewer in enumerate(reviewers):
            approve_stage(actor=reviewer, request_id=request.pk, stage_index=index, comment="ok")
        deployment = deploy_version(actor=deployer, version_id=version.pk, environment="production")
        _backdate(deployment.pk, at)

    templates: list[dict[str, Any]] = []
    for offset in range(0, args.rules, TEMPLATES_PER_TRANSACTION):
        with transaction.atomic():
            for index in range(offset, min(offset + TEMPLATES_PER_TRANSACTION, args.rules)):
                previous_version = index % 4 == 0
                template = create_template_live_in_development(
                    actor=author,
                    name=f"bench-rollback template {index:04d}",
                    description="A template of the rollback benchmark, with one rule watching production.",
                    category="other",
                    definition=definition_for(index, 1),
                )
                first = template.latest_version
                assert first is not None  # created with the template
                deploy_to_production(first, first_at)
                versions = [{"id": str(first.pk), "from": first_at.isoformat()}]
                if previous_version:
                    second = create_version_live_in_development(
                        actor=author, template_id=template.pk, definition=definition_for(index, 2)
                    )
                    deploy_to_production(second, switch_at)
                    versions.append({"id": str(second.pk), "from": switch_at.isoformat()})
                create_rule(
                    actor=deployer,
                    template_id=template.pk,
                    environment="production",
                    **rule_for(index, previous_version),
                )
                templates.append({"templateId": str(template.pk), "versions": versions})
        say(f"setup: {len(templates):,} of {args.rules:,} templates with their deployments and rule")
    state_path().write_text(json.dumps({"templates": templates, "reported": 0}))
    return {
        "templates": len(templates),
        "previousVersionRules": sum(len(item["versions"]) > 1 for item in templates),
        "seconds": round(time.perf_counter() - started, 1),
        "vendor": connection.vendor,
    }


def _reports(
    templates: list[dict[str, Any]], count: int, first_number: int, end: datetime, seed: int
) -> list[list[dict[str, Any]]]:
    """`count` reports as integrations send them, in time order over the DAYS before `end`, in batches."""
    rng = random.Random(seed)
    cumulative, running = [], 0.0
    for rank in range(len(templates)):
        running += 1 / (rank + 1)
        cumulative.append(running)
    start = end - timedelta(days=DAYS)
    span = (end - start).total_seconds()
    moments = sorted(rng.random() * span for _ in range(count))
    batches: list[list[dict[str, Any]]] = []
    for offset in range(0, count, BATCH):
        batch = []
        for number in range(offset, min(offset + BATCH, count)):
            moment = start + timedelta(seconds=moments[number])
            versions = templates[bisect.bisect_left(cumulative, rng.random() * running)]["versions"]
            # The version that served production at that moment.
            version = next(v["id"] for v in reversed(versions) if datetime.fromisoformat(v["from"]) <= moment)
            status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
            input_tokens, output_tokens = 20 + int(rng.lognormvariate(5.0, 0.6)), 10 + int(rng.lognormvariate(5.4, 0.7))
            report: dict[str, Any] = {
                "templateVersionId": version,
                "status": status,
                "responseTime": 30_000.0 if status == "timeout" else round(rng.lognormvariate(6.6, 0.55), 1),
                "environment": "production",
                "timestamp": moment.isoformat(),
                "tokenUsage": {
                    "inputTokens": input_tokens,
                    "outputTokens": output_tokens,
                    "cost": round((input_tokens * 0.15 + output_tokens * 0.6) / 1_000_000, 8),
                },
                "metadata": {"requestId": f"rollback-bench-{first_number + number}", "region": rng.choice(REGIONS)},
            }
            if status != "success":
                report["error"] = {"type": "ProviderError", "message": "502 Bad Gateway from the provider"}
            if rng.random() < 0.3:
                report["userSatisfaction"] = rng.randint(1, 5)
            batch.append(report)
        batches.append(batch)
    return batches


def report(args: argparse.Namespace) -> dict[str, Any]:
    """Store `executions` more executions through analytics' services, then roll them all up."""
    django_setup()
    from django.db import connection
    from django.utils import timezone

    from analytics.models import Execution
    from analytics.rollups import roll_up_pending
    from analytics.services import read_reports, record_executions

    state = json.loads(state_path().read_text())
    reporter = user_with_roles("bench-integration", "integration")
    started = time.perf_counter()
    batches = _reports(state["templates"], args.executions, state["reported"], timezone.now(), args.seed)
    generated = time.perf_counter()
    stored = 0
    for batch in batches:
        stored += len(record_executions(read_reports(batch, actor=reporter)).created)
        if stored % 100_000 < BATCH:
            say(f"report: {stored:,} of {args.executions:,} executions stored")
    if stored != args.executions:
        raise SystemExit(f"stored {stored:,} executions of {args.executions:,} (duplicate request ids?)")
    inserted = time.perf_counter()
    while roll_up_pending(max_executions=50_000).executions:
        pass
    rolled = time.perf_counter()
    state["reported"] += args.executions
    state_path().write_text(json.dumps(state))
    total = Execution.objects.count()
    say(f"report: {total:,} executions stored and rolled up")
    return {
        "executions": total,
        "generateSeconds": round(generated - started, 1),
        "storeSeconds": round(inserted - generated, 1),
        "rollUpSeconds": round(rolled - inserted, 1),
        "vendor": connection.vendor,
    }


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Time `passes` evaluation passes, each at a new tick (ROLLBACK_EVALUATION_SECONDS apart at least)."""
    django_setup()
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from lifecycle.releases.rules.evaluation import evaluate_all, tick_of, tick_seconds
    from lifecycle.releases.rules.models import TriggerState

    seconds: list[float] = []
    outcomes: list[dict[str, Any]] = []
    last_tick = None
    for _ in range(args.passes):
        # A new tick for each pass: a tick already evaluated is skipped rule by rule, which is not the work
        # measured. Waiting is outside the timing.
        while (moment := timezone.now()) and last_tick is not None and tick_of(moment) <= last_tick:
            time.sleep(0.05)
        last_tick = tick_of(moment)
        started = time.perf_counter()
        results = evaluate_all(window_end=moment)
        seconds.append(time.perf_counter() - started)
        evaluated = sum(result.evaluated for result in results)
        # What each rule found this pass: its state's last status (a quiet rule found what it found before,
        # and only its last tick was written).
        found = TriggerState.objects.filter(last_tick=last_tick).values_list("last_status").annotate(count=Count("pk"))
        verdicts = dict(found.order_by())
        outcome = {
            "pairs": len(results),
            "evaluated": evaluated,
            "recorded": sum(result.recorded for result in results),
            "fired": sum(len(result.firings) for result in results),
            "skipped": sum(bool(result.skipped) for result in results),
            "verdicts": verdicts,
        }
        outcomes.append(outcome)
        say(f"evaluate: pass {len(seconds)} took {seconds[-1]:.2f} s: {outcome}")
    return {
        "seconds": seconds,
        "medianSeconds": statistics.median(seconds),
        "passes": outcomes,
        "tickSeconds": tick_seconds(),
        "vendor": connection.vendor,
    }


def main() -> None:
    """Run one command; print its result as JSON on the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("setup", help="templates deployed to production, one enabled rule each")
    seeding.add_argument("--rules", type=int, default=1000)
    reporting = commands.add_parser("report", help="store and roll up more executions of those templates")
    reporting.add_argument("--executions", type=int, required=True)
    reporting.add_argument("--seed", type=int, default=1)
    timing = commands.add_parser("evaluate", help="time evaluation passes over every enabled rule")
    timing.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    run = {"setup": setup, "report": report, "evaluate": evaluate}[args.command]
    sys.stdout.write(json.dumps(run(args)) + "\n")


if __name__ == "__main__":
    main()
