"""The A/B benchmark's in-process part: a running test and its executions, in a throwaway database.

Run by bench/abtesting.py with the benchmark's environment (its own LIFECYCLE_DATA_DIR), never on the
user's database; prints its result as JSON, alone on the last line of stdout (progress goes to stderr).
Commands, in the order the driver runs them:

- setup: a template with two versions live in development, and a test between them in development (every
  version is approved there), created and started through abtesting's services, its start moved DAYS back.
- report: executions of the test's variants over those DAYS, as integrations report what render served
  (abTestId, variantId, subjectId), checked and stored through analytics' services in batches as the API
  stores them, then rolled up as the worker does, all but the last BATCHES_LEFT_PENDING batches: results
  read those raw, as they do between two roll-ups. Repeated, it adds more.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on the path: the project must, for its apps (one is named analytics).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.in_process import django_setup, say, state_path, user_with_roles

STATE = "abtesting-bench.json"
DAYS = 30
BATCH = 1000  # reports per stored batch: the API's largest
BATCHES_LEFT_PENDING = 3
EXECUTIONS_PER_SUBJECT = 5  # on average: subjects come back
# The variant converts a little better and answers a little faster: a real difference, found at 1M.
CONVERSION = {"control": 0.10, "variant-a": 0.104}
LATENCY_MEDIAN_MS = {"control": 900.0, "variant-a": 880.0}


def setup(args: argparse.Namespace) -> dict[str, Any]:
    django_setup()
    from django.db import connection
    from django.utils import timezone

    from abtesting import services
    from abtesting.models import ABTest
    from lifecycle.releases.services import create_template_live_in_development, create_version_live_in_development

    author = user_with_roles("bench-author", "author")
    deployer = user_with_roles("bench-deployer", "deployer")
    template = create_template_live_in_development(
        actor=author,
        name="bench-abtesting support answer",
        description="The template of the A/B benchmark.",
        definition={"content": "Answer the customer: {{inquiry}}", "variables": [{"name": "inquiry"}]},
    )
    first = template.latest_version
    assert first is not None
    second = create_version_live_in_development(
        actor=author,
        template_id=template.pk,
        definition={
            "content": "Answer the customer briefly and kindly: {{inquiry}}",
            "variables": [{"name": "inquiry"}],
        },
    )
    test = services.create_test(
        actor=author,
        name="bench: kinder answers",
        template_id=template.pk,
        environment="development",
        variants=[
            {"id": "control", "template_version_id": first.pk, "traffic_percentage": 50},
            {"id": "variant-a", "template_version_id": second.pk, "traffic_percentage": 50},
        ],
        success_metrics=[
            {"name": "conversion", "type": "conversion_rate", "target": None, "weight": 0.7},
            {"name": "latency", "type": "response_time", "target": 1000, "weight": 0.3},
        ],
        guardrail_metrics=[{"name": "cost", "type": "cost"}, {"name": "success", "type": "success_rate"}],
    )
    services.start_test(actor=deployer, test_id=test.pk)
    ABTest.objects.filter(pk=test.pk).update(started_at=timezone.now() - timedelta(days=DAYS))
    versions = {"control": str(first.pk), "variant-a": str(second.pk)}
    state_path(STATE).write_text(json.dumps({"testId": str(test.pk), "versions": versions, "reported": 0}))
    return {"testId": str(test.pk), "vendor": connection.vendor}


def _batches(state: dict[str, Any], count: int, seed: int) -> list[list[dict[str, Any]]]:
    """`count` reports over the DAYS before now (spread so that the newest are minutes old), in batches."""
    from django.utils import timezone
    from promptrender.assignment import choose_variant

    rng = random.Random(seed)
    end = timezone.now() - timedelta(minutes=1)
    span = timedelta(days=DAYS).total_seconds() - 120
    first = state["reported"]
    subjects = max(1, (first + count) // EXECUTIONS_PER_SUBJECT)
    moments = sorted(rng.random() * span for _ in range(count))
    batches: list[list[dict[str, Any]]] = []
    for offset in range(0, count, BATCH):
        batch = []
        for number in range(offset, min(offset + BATCH, count)):
            subject = f"subject-{rng.randrange(subjects)}"
            # The variant render serves this subject: as the server would (the same hash, the same split).
            index = choose_variant(state["testId"], subject, [50.0, 50.0])
            assert index is not None  # the whole traffic is in the test
            variant = ("control", "variant-a")[index]
            failed = rng.random() < 0.02
            input_tokens, output_tokens = 20 + int(rng.lognormvariate(5.0, 0.6)), 10 + int(rng.lognormvariate(5.4, 0.7))
            report: dict[str, Any] = {
                "templateVersionId": state["versions"][variant],
                "status": "error" if failed else "success",
                "responseTime": round(rng.lognormvariate(0, 0.5) * LATENCY_MEDIAN_MS[variant], 1),
                "environment": "development",
                "timestamp": (end - timedelta(seconds=span - moments[number])).isoformat(),
                "tokenUsage": {
                    "inputTokens": input_tokens,
                    "outputTokens": output_tokens,
                    "cost": round((input_tokens * 0.15 + output_tokens * 0.6) / 1_000_000, 8),
                },
                "metadata": {"requestId": f"ab-bench-{first + number}"},
                "abTestId": state["testId"],
                "variantId": variant,
                "subjectId": subject,
                "converted": rng.random() < CONVERSION[variant],
            }
            if rng.random() < 0.3:
                report["userSatisfaction"] = rng.randint(3, 5)
            batch.append(report)
        batches.append(batch)
    return batches


def report(args: argparse.Namespace) -> dict[str, Any]:
    """Store `executions` more executions through analytics' services; roll up all but the last batches."""
    django_setup()
    from analytics.models import Execution, PendingBatch, VariantSubject
    from analytics.rollups import roll_up_pending
    from analytics.services import read_reports, record_executions

    state = json.loads(state_path(STATE).read_text())
    reporter = user_with_roles("bench-integration", "integration")
    started = time.perf_counter()
    batches = _batches(state, args.executions, args.seed)
    stored = 0
    for number, batch in enumerate(batches):
        if number == len(batches) - BATCHES_LEFT_PENDING:
            # Everything stored so far is folded in; the last batches stay pending, read raw by results.
            while roll_up_pending(max_executions=50_000).executions:
                pass
        stored += len(record_executions(read_reports(batch, actor=reporter)).created)
        if stored % 100_000 < BATCH:
            say(f"report: {stored:,} of {args.executions:,} executions stored")
    if stored != args.executions:
        raise SystemExit(f"stored {stored:,} executions of {args.executions:,} (duplicate request ids?)")
    state["reported"] += args.executions
    state_path(STATE).write_text(json.dumps(state))
    return {
        "executions": Execution.objects.count(),
        "subjects": VariantSubject.objects.count(),
        "pendingBatches": PendingBatch.objects.count(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="a running test between two versions of a template")
    reporting = commands.add_parser("report", help="store more executions of the test's variants")
    reporting.add_argument("--executions", type=int, required=True)
    reporting.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run = {"setup": setup, "report": report}[args.command]
    sys.stdout.write(json.dumps(run(args)) + "\n")


if __name__ == "__main__":
    main()
