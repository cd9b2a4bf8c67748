"""`make bench` (third part): rollback, against the real server and worker, and the rule engine's pass.

1. Automatic rollback: the server is started exactly as `make run` starts it, with the beat evaluating the
   rules every 5 s (ROLLBACK_EVALUATION_SECONDS). Each round, on a fresh template with two versions
   approved for and deployed to production, makes a rule (success rate below 95% over 1 min, 20
   executions at least, 2 consecutive breaches, roll back), reports a burst of failing executions of the
   second version, and times from the moment that report returns until render serves the first version.
2. The evaluation pass: in a throwaway database, 1,000 templates deployed to production with one enabled
   rule each and a million executions between them, stored and rolled up through analytics' services;
   one in-process evaluation pass over every rule (evaluation.evaluate_all), timed a few times, and the
   same with a tenth of the executions (the same templates and rules before the rest were added).
3. Rollback calls: on the server of part 1, POST /api/rollback/initiate and POST /api/rollback/emergency
   in turn on one template (its second version redeployed in between, untimed): p50 and p99 of each.

Parts 1 and 3 run first, on one server; part 2 once that server is stopped (so that its beat and worker do
not share the two cores with the pass).

Standard library only: the driver must run before anything else is known to work (the evaluation pass
needs Django and runs in bench/rollback_db.py, with the venv).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# Run as a script (`python bench/rollback.py`), the project is not on the path: bench.common needs it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    BUSY_WARNING_CORES,
    PYTHON,
    BenchError,
    OthersMeter,
    bench_env,
    free_port,
    honcho_installed,
    http_json,
    last_json_line,
    percentile,
    run_in_work_dir,
    run_step,
    running_server,
    say,
    setup_database,
)

REVIEWERS = ("technical", "qa", "security", "business")  # production's approval stages, in order
CONSECUTIVE_BREACHES = 2
MARGIN_S = 5.0
GOAL_PASS_S = 2.0
BURST = 40  # failing executions reported at once: twice the rule's minimum
POLL_S = 0.02  # between renders while waiting for the rollback
ROUND_TIMEOUT_MARGIN_S = 60.0  # beyond the goal, a round without a rollback is a failure, not a figure
WARMUP_CYCLES = 5  # untimed initiate/emergency cycles first: the server's processes load their code paths
INQUIRY = {"inquiry": "How do I reset my password?"}


def goal_seconds(interval: float) -> float:
    """The issue's goal for the automatic rollback: interval x breaches + 5 s."""
    return interval * CONSECUTIVE_BREACHES + MARGIN_S


# --- The server, over HTTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    """The server's API as the benchmark's users call it: `bench` (author and deployer) and a reviewer for
    each approval stage."""

    base: str
    tokens: dict[str, str]

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, who: str = "bench", expect: int = 200
    ) -> Any:
        """The JSON answer of one call; BenchError if its status is not `expect`."""
        status, raw = http_json(method, self.base + path, body, self.tokens[who], timeout=30.0)
        if status != expect:
            raise BenchError(f"{method} {path} returned {status}, not {expect}: {raw.decode(errors='replace')[:2000]}")
        return json.loads(raw) if raw else None

    def timed(self, method: str, path: str, body: dict[str, Any], *, expect: int) -> tuple[float, Any]:
        """One call's wall time in ms (connect to last byte) and its answer."""
        started = time.perf_counter()
        answer = self.call(method, path, body, expect=expect)
        return (time.perf_counter() - started) * 1000, answer

    def rendered_version(self, template_id: str) -> str:
        """The version production's render serves now."""
        body = {"environment": "production", "variables": INQUIRY}
        answer = self.call("POST", f"/api/templates/{template_id}/render", body)
        version: str = answer["version"]
        return version


@dataclass(frozen=True)
class Served:
    """A template whose two versions were approved for and deployed to production in turn: 1.0.1 serves."""

    template_id: str
    first: str  # 1.0.0's id
    second: str  # 1.0.1's id


def served_template(api: Api, name: str) -> Served:
    """Create a template and its second version; approve each for production through the four stages and
    deploy it, as the README's lifecycle does."""
    template = api.call(
        "POST",
        "/api/templates",
        {
            "name": name,
            "content": "Please respond to the customer inquiry: {{inquiry}}",
            "variables": [{"name": "inquiry", "type": "string", "required": True}],
            "category": "generation",
        },
        expect=201,
    )
    second = api.call(
        "POST",
        "/api/versions/create",
        {"templateId": template["id"], "data": {"content": "Answer in one word: {{inquiry}}"}},
        expect=201,
    )
    served = Served(template["id"], template["latestVersion"]["id"], second["id"])
    for version_id in (served.first, served.second):
        api.call("POST", "/api/approval/submit", {"versionId": version_id, "environment": "production"}, expect=201)
        for index, role in enumerate(REVIEWERS):
            decision = {"versionId": version_id, "environment": "production", "data": {"stageIndex": index}}
            api.call("POST", "/api/approval/approve", decision, who=role)
        api.call("PUT", f"/api/versions/{version_id}/deploy", {"environment": "production"})
    if api.rendered_version(served.template_id) != "1.0.1":
        raise BenchError(f"{name}: production does not serve 1.0.1 after its deploy")
    return served


# --- 1. Automatic rollback --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutomaticRound:
    """One round: from the failing report's return to render serving the previous version."""

    seconds: float
    until_last_tick: float  # from the report to the beat moment of the second breaching evaluation
    after_last_tick: float  # from that moment until render served the previous version


def automatic_round(api: Api, number: int, interval: float, rng: random.Random) -> AutomaticRound:
    """A fresh template and rule, a burst of failures, and the wait for render to serve 1.0.0 again."""
    served = served_template(api, f"bench-rollback automatic round {number}")
    rule = api.call(
        "POST",
        "/api/rollback/triggers",
        {
            "templateId": served.template_id,
            "environment": "production",
            "metric": "success_rate",
            "operator": "lt",
            "threshold": 95,
            "windowMinutes": 1,
            "minExecutions": BURST // 2,
            "consecutiveBreaches": CONSECUTIVE_BREACHES,
            "action": "rollback",
        },
        expect=201,
    )
    # Setting a round up takes about the same time each time: a random pause makes the rounds' reports land
    # anywhere in the beat's cycle, rather than at one phase of it.
    time.sleep(rng.random() * interval)
    burst = [
        {
            "templateVersionId": served.second,
            "environment": "production",
            "status": "error",
            "responseTime": 900,
            "error": {"type": "ContextLengthExceeded", "message": "the prompt is longer than the model's context"},
            "metadata": {"requestId": f"bench-burst-{number}-{index}"},
        }
        for index in range(BURST)
    ]
    answer = api.call("POST", "/api/executions/batch", {"executions": burst}, expect=201)
    reported, reported_at = time.perf_counter(), time.time()
    if answer != {"created": BURST, "duplicates": 0}:
        raise BenchError(f"the burst was stored as {answer}")
    deadline = reported + goal_seconds(interval) + ROUND_TIMEOUT_MARGIN_S
    while api.rendered_version(served.template_id) != "1.0.0":
        if time.perf_counter() > deadline:
            waited = deadline - reported
            raise BenchError(f"round {number}: production still served 1.0.1 {waited:.0f} s after the burst")
        time.sleep(POLL_S)
    seconds, served_at = time.perf_counter() - reported, time.time()

    history = api.call("GET", f"/api/rollback/history?templateId={served.template_id}")["results"]
    if [(item["rollbackType"], item["status"]) for item in history] != [("automatic", "completed")]:
        raise BenchError(f"round {number}: the rollback history is not one automatic rollback: {history}")
    evaluations = history[0]["evidence"]["evaluations"]
    last_tick = datetime.fromisoformat(evaluations[-1]["windowEnd"]).timestamp()
    # Gone, so that later rounds' ticks do not evaluate it too (its evaluations and alert stay).
    api.call("DELETE", f"/api/rollback/triggers/{rule['id']}", expect=204)
    return AutomaticRound(seconds, last_tick - reported_at, served_at - last_tick)


# --- 3. Rollback calls ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallTimes:
    """Wall times (ms) of POST /api/rollback/initiate and /emergency, and the cores others used meanwhile."""

    initiate: list[float]
    emergency: list[float]
    others: float


def rollback_calls(api: Api, calls: int, meter: OthersMeter) -> CallTimes:
    """Initiate (1.0.1 -> 1.0.0), redeploy 1.0.1, emergency (-> 1.0.0), redeploy 1.0.1, ...; only the
    rollbacks timed, each checked to answer 201 and to land on 1.0.0."""
    served = served_template(api, "bench-rollback calls")
    initiate_body = {
        "currentVersionId": served.second,
        "targetVersionId": served.first,
        "reason": "Benchmark: manual rollback",
        "rollbackType": "manual",
    }
    emergency_body = {"templateId": served.template_id, "environment": "production", "reason": "Benchmark: emergency"}
    redeploy = f"/api/versions/{served.second}/deploy"
    initiate: list[float] = []
    emergency: list[float] = []
    before = meter.sample()
    for cycle in range(WARMUP_CYCLES + calls):
        for path, body, times, kind in (
            ("/api/rollback/initiate", initiate_body, initiate, "manual"),
            ("/api/rollback/emergency", emergency_body, emergency, "emergency"),
        ):
            elapsed, answer = api.timed("POST", path, body, expect=201)
            if (answer["rollbackType"], answer["to"]["version"]) != (kind, "1.0.0"):
                raise BenchError(f"POST {path} answered {answer}")
            if cycle >= WARMUP_CYCLES:
                times.append(elapsed)
            api.call("PUT", redeploy, {"environment": "production"})
    return CallTimes(initiate, emergency, meter.cores_between(before, meter.sample()))


@dataclass(frozen=True)
class ServerOutcome:
    interval: float
    rounds: list[AutomaticRound]
    calls: CallTimes | None


def run_server_parts(args: argparse.Namespace, work_dir: Path) -> ServerOutcome:
    """Start the server with the beat at `--interval`; the automatic rounds, then the rollback calls."""
    port = free_port()
    env = bench_env(work_dir / "server", port)
    env["ROLLBACK_EVALUATION_SECONDS"] = str(args.interval)
    tokens = {"bench": setup_database(env, "author,deployer")}
    for role in REVIEWERS:
        out = run_step([PYTHON, "manage.py", "create_api_token", f"bench-{role}", "--groups", role], env, role)
        tokens[role] = out.strip().splitlines()[-1].strip()
    log_path = work_dir / "server.log"
    say(f"bench: starting the server on port {port}, rules evaluated every {args.interval:g} s (log: {log_path})")
    started = time.monotonic()
    rounds: list[AutomaticRound] = []
    calls = None
    with running_server(env, port, log_path) as server:
        say(f"bench: web server, worker and beat up in {time.monotonic() - started:.1f} s")
        api = Api(server.base, tokens)
        meter = OthersMeter(server.groups)
        if args.part in ("all", "automatic"):
            say(f"bench: automatic rollback: {args.rounds} rounds, each on a fresh template")
            rng = random.Random(args.seed)
            for number in range(1, args.rounds + 1):
                before = meter.sample()
                rounds.append(automatic_round(api, number, args.interval, rng))
                item = rounds[-1]
                say(
                    f"bench:   round {number}: {item.seconds:.2f} s (second breaching tick "
                    f"{item.until_last_tick:.2f} s after the report, render served 1.0.0 "
                    f"{item.after_last_tick:.2f} s after it)" + _others(meter.cores_between(before, meter.sample()))
                )
        if args.part in ("all", "latency"):
            say(f"bench: rollback calls: {WARMUP_CYCLES} untimed cycles, then {args.calls} of each")
            calls = rollback_calls(api, args.calls, meter)
    return ServerOutcome(args.interval, rounds, calls)


# --- 2. The evaluation pass -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassTimes:
    """The evaluation passes at one number of executions."""

    executions: int
    seconds: list[float]
    passes: list[dict[str, Any]]  # what each pass did (pairs, evaluated, recorded, fired, skipped)
    others: float

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass(frozen=True)
class EvaluationOutcome:
    rules: int
    previous_version_rules: int
    vendor: str
    sizes: list[PassTimes]
    seeding: list[str]


def run_evaluation(args: argparse.Namespace, work_dir: Path) -> EvaluationOutcome:
    """Seed the throwaway database, then time the passes at the small and at the full number of executions."""
    env = bench_env(work_dir / "evaluation", free_port())
    # Ticks of a second: each pass, started a second after the last, evaluates a new tick as the beat's would.
    env["ROLLBACK_EVALUATION_SECONDS"] = "1"
    setup_database(env, "author")
    script = "bench/rollback_db.py"
    say(f"bench: evaluation pass: {args.rules:,} templates deployed to production, one enabled rule each ...")
    made = last_json_line(run_step([PYTHON, script, "setup", "--rules", str(args.rules)], env, script), script)
    compared = made["previousVersionRules"]
    say(f"bench:   set up in {made['seconds']} s ({compared} rules compare with the previous version)")
    meter = OthersMeter(frozenset())
    sizes: list[PassTimes] = []
    seeding: list[str] = []
    reported = 0
    for size in sorted({args.small_executions, args.executions}):
        say(f"bench:   reporting {size - reported:,} executions (to {size:,}) through analytics' services ...")
        stored = last_json_line(
            run_step(
                [PYTHON, script, "report", "--executions", str(size - reported), "--seed", str(args.seed + size)],
                env,
                script,
            ),
            script,
        )
        if stored["executions"] != size:
            raise BenchError(f"the database holds {stored['executions']:,} executions, not {size:,}")
        reported = size
        seeding.append(
            f"{size:,} executions: stored in {stored['storeSeconds']} s, rolled up in {stored['rollUpSeconds']} s"
        )
        say(f"bench:   {seeding[-1]}; {args.passes} evaluation passes ...")
        before = meter.sample()
        evaluate = [PYTHON, script, "evaluate", "--passes", str(args.passes)]
        timed = last_json_line(run_step(evaluate, env, script), script)
        sizes.append(PassTimes(size, timed["seconds"], timed["passes"], meter.cores_between(before, meter.sample())))
        seconds = ", ".join(f"{value:.2f}" for value in timed["seconds"])
        say(f"bench:   passes at {size:,} executions: {seconds} s{_others(sizes[-1].others)}")
        for number, done in enumerate(timed["passes"], start=1):
            if done["evaluated"] != args.rules or done["fired"]:
                raise BenchError(f"pass {number} at {size:,} executions did {done}, not every rule once and unfired")
    return EvaluationOutcome(args.rules, made["previousVersionRules"], made["vendor"], sizes, seeding)


# --- Figures ----------------------------------------------------------------------------------------------


def _others(cores: float) -> str:
    return f" (other processes used {cores:.2f} cores meanwhile)" if cores > BUSY_WARNING_CORES else ""


def _verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def print_figures(server: ServerOutcome | None, evaluation: EvaluationOutcome | None) -> list[str]:
    """The figures of each part measured; the goals' lines, for the summary."""
    goals: list[str] = []
    if server is not None and server.rounds:
        goal = goal_seconds(server.interval)
        times = [item.seconds for item in server.rounds]
        say()
        say(
            f"automatic rollback: SQLite, beat every {server.interval:g} s, {CONSECUTIVE_BREACHES} consecutive "
            f"breaches, {BURST} failing executions reported at once"
        )
        say(
            f"{'':<10} {'report -> render serves 1.0.0':>30} {'report -> 2nd breaching tick':>30} "
            f"{'tick -> render':>15}"
        )
        for number, item in enumerate(server.rounds, start=1):
            say(f"{'round ' + str(number):<10} {item.seconds:>28.2f} s {item.until_last_tick:>28.2f} s "
                f"{item.after_last_tick:>13.2f} s")  # fmt: skip
        median, worst = statistics.median(times), max(times)
        say(f"{'median':<10} {median:>28.2f} s")
        say(f"{'max':<10} {worst:>28.2f} s")
        goals.append(
            f"automatic rollback: max {worst:.2f} s, median {median:.2f} s; goal <= {goal:g} s "
            f"(interval x breaches + {MARGIN_S:g} s): {worst / goal:.0%} of it: {_verdict(worst <= goal)}"
        )
    if evaluation is not None and evaluation.sizes:
        say()
        say(
            f"evaluation pass: {evaluation.vendor}, {evaluation.rules:,} enabled rules on as many templates "
            f"({evaluation.previous_version_rules} against the previous version), in one process"
        )
        say(f"{'executions':>12} {'median s':>9} {'min s':>7} {'max s':>7}   passes (s)")
        for size in evaluation.sizes:
            passes = ", ".join(f"{value:.2f}" for value in size.seconds)
            say(
                f"{size.executions:>12,} {size.median:>9.2f} {min(size.seconds):>7.2f} {max(size.seconds):>7.2f}"
                f"   {passes}"
            )
        largest = evaluation.sizes[-1]
        goals.append(
            f"evaluation pass at {largest.executions:,} executions: median {largest.median:.2f} s; goal < "
            f"{GOAL_PASS_S:g} s: {largest.median / GOAL_PASS_S:.0%} of it: {_verdict(largest.median < GOAL_PASS_S)}"
        )
        if len(evaluation.sizes) > 1:
            smallest = evaluation.sizes[0]
            ratio = largest.median / smallest.median
            grows = largest.executions / smallest.executions
            goals.append(
                f"evaluation pass at {grows:g}x the executions: {ratio:.2f}x the time "
                f"({smallest.median:.2f} s at {smallest.executions:,})"
            )
        for size in evaluation.sizes:
            verdicts = ", ".join(f"{status} {count:,}" for status, count in size.passes[-1]["verdicts"].items())
            say(f"verdicts of a pass at {size.executions:,} executions: {verdicts} (each rule's status after the pass)")
        for line in evaluation.seeding:
            say(f"seeding: {line}")
    if server is not None and server.calls is not None:
        calls = server.calls
        say()
        say(f"rollback calls: SQLite, {len(calls.initiate)} sequential calls of each, one template")
        say(f"{'':<32} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for label, times in (
            ("POST /api/rollback/initiate", calls.initiate),
            ("POST /api/rollback/emergency", calls.emergency),
        ):
            say(f"{label:<32} {percentile(times, 0.5):>8.1f} {percentile(times, 0.99):>8.1f} {max(times):>8.1f}")
            goals.append(f"{label}: p50 {percentile(times, 0.5):.1f} ms, p99 {percentile(times, 0.99):.1f} ms")
        if calls.others > BUSY_WARNING_CORES:
            say(f"WARNING: other processes used {calls.others:.2f} cores meanwhile: the latencies are higher for it")
    return goals


def main() -> int:
    """Parse the options and run the parts; non-zero exit on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--part", choices=["all", "automatic", "latency", "evaluation"], default="all")
    parser.add_argument("--interval", type=float, default=5.0, help="beat interval of the evaluation, s (default 5)")
    parser.add_argument("--rounds", type=int, default=5, help="automatic rollback rounds (default 5)")
    parser.add_argument("--calls", type=int, default=200, help="timed calls of initiate and of emergency (default 200)")
    parser.add_argument("--rules", type=int, default=1000, help="rules (one per template) evaluated (default 1,000)")
    parser.add_argument("--executions", type=int, default=1_000_000, help="executions (default 1,000,000)")
    parser.add_argument("--small-executions", type=int, default=100_000, help="the smaller size (default 100,000)")
    parser.add_argument("--passes", type=int, default=5, help="timed evaluation passes per size (default 5)")
    parser.add_argument("--seed", type=int, default=20_261_129, help="random seed (pauses, executions)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few rounds, calls, rules, executions")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, log)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.rules, args.passes = 2, 20, 100, 2
        args.executions, args.small_executions = 20_000, 2_000
    if min(args.rounds, args.calls, args.rules, args.executions, args.small_executions, args.passes) < 1:
        parser.error("--rounds, --calls, --rules, --executions, --small-executions and --passes must be >= 1")
    if args.small_executions > args.executions:
        parser.error("--small-executions must not exceed --executions")
    if args.interval <= 0:
        parser.error("--interval must be > 0")
    if not honcho_installed():
        return 2

    outcomes: dict[str, Any] = {"server": None, "evaluation": None}

    def run_parts(work_dir: Path) -> None:
        if args.part in ("all", "automatic", "latency"):
            outcomes["server"] = run_server_parts(args, work_dir)
        if args.part in ("all", "evaluation"):
            outcomes["evaluation"] = run_evaluation(args, work_dir)

    code = run_in_work_dir("lifecycle-bench-rollback-", args.keep, "the server, if started, was stopped", run_parts)
    if code:
        return code
    goals = print_figures(outcomes["server"], outcomes["evaluation"])
    say()
    say("rollback benchmark summary")
    for line in goals:
        say(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
