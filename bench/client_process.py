"""One process of the client benchmark (bench/client.py runs it with the venv's Python, the client from its
source): `hot` times renders from memory in-process; `watch` renders one template in a loop and prints the
moment it first serves another version, then its request count.

Prints JSON lines on stdout; the driver reads them.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "packages" / "promptclient" / "src"))
from promptclient import PromptClient

VALUES = {"inquiry": "How do I reset my password?"}


def say(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def hot(client: PromptClient, template: str, calls: int, subject: bool) -> None:
    """`calls` renders from memory (after a warm-up), each timed alone: p50 and p99 in microseconds."""
    for number in range(10_000):
        client.render(template, VALUES, subject_id=f"user-{number}" if subject else None)
    clock = time.perf_counter_ns
    times = []
    for number in range(calls):
        subject_id = f"user-{number}" if subject else None
        started = clock()
        client.render(template, VALUES, subject_id=subject_id)
        times.append(clock() - started)
    times.sort()
    say(
        p50_us=times[len(times) // 2] / 1000,
        p99_us=times[int(len(times) * 0.99)] / 1000,
        mean_us=statistics.fmean(times) / 1000,
        calls=calls,
    )


def watch(client: PromptClient, template: str, others: list[str], seconds: float) -> None:
    """Ready once every template is known; then render `template` every millisecond and print the wall
    time each time the version it serves changes, for `seconds`; then the requests made meanwhile."""
    if not client.wait_until_ready(30):
        say(error="not ready within 30 s")
        return
    for other in others:
        client.render(other, VALUES)
    serving = client.render(template, VALUES)["versionId"]
    requests, started = client.stats["requests"], time.monotonic()
    say(ready=True, serving=serving)
    while time.monotonic() - started < seconds:
        now = client.render(template, VALUES)["versionId"]
        if now != serving:
            say(changed=now, at=time.time())
            serving = now
        time.sleep(0.001)
    elapsed = time.monotonic() - started
    say(requests=client.stats["requests"] - requests, seconds=elapsed, interval=client.refresh_interval)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["hot", "watch"])
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--others", default="", help="comma-separated ids of the other templates in use")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--subject", action="store_true", help="hot: a new subject on every render")
    args = parser.parse_args()
    others = [other for other in args.others.split(",") if other]
    if args.mode == "watch":
        # Clients start at any moment, so their refreshes fall at any point of the interval.
        time.sleep(random.uniform(0, args.interval))
    client = PromptClient(
        args.base,
        args.token,
        environment="development",
        refresh_interval=args.interval,
        templates=[args.template, *others],
    )
    try:
        if args.mode == "hot":
            client.wait_until_ready(30)
            hot(client, args.template, args.calls, args.subject)
        else:
            watch(client, args.template, others, args.seconds)
    finally:
        client.close()


if __name__ == "__main__":
    main()
