"""Create the templates the analytics benchmark reports executions of, through the same services the API uses.

Run by bench/analytics.py with the benchmark's environment (its own LIFECYCLE_DATA_DIR or throwaway
PostgreSQL), never on the user's database. One busy template with several versions takes a large share of
the traffic (the one whose metrics and analytics are measured); the others make the tables realistic: the
busy template's rows are interleaved with everyone else's.

Prints, alone on the last line of stdout, the ids as JSON: {"busy": {"templateId", "versionIds"},
"others": [{"templateId", "versionId"}, ...], "vendor"}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on the path: the project must, for its apps (one is named analytics).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.seed_registry import definition_for


def seed(busy_versions: int, others: int) -> dict[str, Any]:
    """Create the busy template with its versions and the other templates (one version each) as `bench`."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifecycle.settings")
    django.setup()

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from lifecycle.releases import services

    actor = get_user_model().objects.get(username="bench")
    run = secrets.token_hex(3)  # names are unique: repeated runs on one database must not collide
    with transaction.atomic():
        busy = services.create_template_live_in_development(
            actor=actor,
            name=f"bench-analytics-{run} busy support assistant",
            description="The analytics benchmark's busy template: its metrics and analytics are measured.",
            category="generation",
            tags=["support", "customer-facing"],
            definition=definition_for(0, 1),
        )
        version_ids = [str(busy.latest_version_id)]
        for revision in range(2, busy_versions + 1):
            version = services.create_version_live_in_development(
                actor=actor,
                template_id=busy.pk,
                definition=definition_for(0, revision),
                metadata={"changelog": f"revision {revision}"},
            )
            version_ids.append(str(version.pk))
        rest = []
        for index in range(1, others + 1):
            template = services.create_template_live_in_development(
                actor=actor,
                name=f"bench-analytics-{run} template {index:03d}",
                description=f"Analytics benchmark template {index} of {others}.",
                category="other",
                definition=definition_for(index, 1),
            )
            rest.append({"templateId": str(template.pk), "versionId": str(template.latest_version_id)})
    return {
        "busy": {"templateId": str(busy.pk), "versionIds": version_ids},
        "others": rest,
        "vendor": connection.vendor,
    }


def main() -> None:
    """Parse the sizes, seed, and print the ids as the last stdout line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--busy-versions", type=int, default=3, help="versions of the busy template (default 3)")
    parser.add_argument("--others", type=int, default=49, help="other templates, one version each (default 49)")
    args = parser.parse_args()
    if args.busy_versions < 1 or args.others < 1:
        parser.error("--busy-versions and --others must be at least 1")
    sys.stdout.write(json.dumps(seed(args.busy_versions, args.others)) + "\n")


if __name__ == "__main__":
    main()
