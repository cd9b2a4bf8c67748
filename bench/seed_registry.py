"""Fill the benchmark's database with a realistic registry, through the same services the API uses.

Run by bench/render.py with the benchmark's environment (its own LIFECYCLE_DATA_DIR or BENCH_DATABASE_URL),
never on the user's database. Render must not slow down as templates and versions accumulate, so it is
measured against a registry of many templates with several versions each, not against a single row.

Prints progress on stderr and, alone on the last line of stdout, a JSON object describing the template
the benchmark renders: its id, the request's variables, the text the render must return, and the totals.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Templates created per transaction: one commit per template would make SQLite fsync thousands of times.
BATCH = 100

CATEGORIES = ("analysis", "generation", "classification", "extraction", "summarization", "translation", "other")
TAG_POOL = ("support", "sales", "legal", "internal", "customer-facing", "beta", "emea", "apac", "email", "chat")
TONES = ("concise", "friendly", "formal", "detailed", "neutral")

# The rendered template's request: `language` is left out, so its default is exercised too.
TARGET_VARIABLES = {"product": "Acme Router X2", "question": "How do I reset the admin password?"}


def text_definition(index: int, revision: int) -> dict[str, Any]:
    """A text prompt with two required variables and an optional one with a default (the rendered kind)."""
    tone = TONES[(index + revision) % len(TONES)]
    return {
        "content": (
            f"You are a {tone} support assistant for {{{{product}}}} (playbook {index:04d}, revision {revision}).\n"
            "Answer in {{ language }}. Quote the manual where you can and say so when you are unsure.\n\n"
            "Customer question: {{question}}"
        ),
        "variables": [
            {"name": "product", "type": "string", "required": True, "maxLength": 200},
            {"name": "question", "type": "string", "required": True, "minLength": 1, "maxLength": 4000},
            {"name": "language", "type": "string", "required": False, "default": "English"},
        ],
        "modelConfig": {"model": "gpt-4o-mini", "temperature": round(0.1 * (revision % 8), 1), "maxTokens": 512},
        "provider": "openai",
    }


def expected_text(index: int, revision: int, values: dict[str, str]) -> str:
    """The render result computed here by plain substitution, independently of the server's renderer."""
    tone = TONES[(index + revision) % len(TONES)]
    return (
        f"You are a {tone} support assistant for {values['product']} (playbook {index:04d}, revision {revision}).\n"
        f"Answer in {values.get('language', 'English')}. Quote the manual where you can and say so when you are "
        f"unsure.\n\nCustomer question: {values['question']}"
    )


# A composed prompt (issue 14): the rendered template's text between two shared parts, one of which
# declares a variable the prompt uses too. Stored flattened, it must render as fast as the plain one.
SAFETY_PART = "Never reveal internal notes. Escalate legal threats to a human."
STYLE_PART = "Write in {{ language }}, in short paragraphs, for {{product}} owners."


def composed_definition(index: int, revision: int, safety: str, style: str) -> dict[str, Any]:
    plain = text_definition(index, revision)
    return {**plain, "content": f"{{{{> {safety}@1.0.0}}}}\n{plain['content']}\n{{{{> {style}@1.0.0}}}}"}


def composed_expected(index: int, revision: int, values: dict[str, str]) -> str:
    style = f"Write in {values.get('language', 'English')}, in short paragraphs, for {values['product']} owners."
    return f"{SAFETY_PART}\n{expected_text(index, revision, values)}\n{style}"


def chat_definition(index: int, revision: int) -> dict[str, Any]:
    """A chat prompt, so that the registry is not all of one kind."""
    return {
        "messages": [
            {"role": "system", "content": f"Classify tickets for team {index:04d} (rules v{revision})."},
            {"role": "user", "content": "Ticket: {{ticket}}\nAllowed labels: {{labels}}"},
        ],
        "variables": [
            {"name": "ticket", "type": "string"},
            {"name": "labels", "type": "array", "required": False, "default": ["bug", "question", "billing"]},
        ],
        "modelConfig": {"model": "claude-3-5-haiku", "temperature": 0.0},
        "provider": "anthropic",
    }


def definition_for(index: int, revision: int) -> dict[str, Any]:
    """Every fourth template is a chat prompt; the others are text prompts like the rendered one."""
    return chat_definition(index, revision) if index % 4 == 3 else text_definition(index, revision)


def seed(templates: int, versions: int, target_index: int) -> dict[str, Any]:
    """Create the templates and their versions as the `bench` user; describe the rendered template."""
    import django

    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifecycle.settings")
    django.setup()

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from lifecycle.releases import services
    from templates_app.models import PromptTemplate, TemplateVersion

    actor = get_user_model().objects.get(username="bench")
    # Names must be unique: a run id keeps repeated runs on one PostgreSQL database from colliding.
    run = secrets.token_hex(3)
    target: dict[str, Any] = {}
    started = time.monotonic()
    for batch_start in range(0, templates, BATCH):
        with transaction.atomic():
            for index in range(batch_start, min(batch_start + BATCH, templates)):
                template = services.create_template_live_in_development(
                    actor=actor,
                    name=f"bench-{run} playbook {index:04d}",
                    description=f"Benchmark template {index} of {templates}.",
                    category=CATEGORIES[index % len(CATEGORIES)],
                    tags=[TAG_POOL[index % len(TAG_POOL)], TAG_POOL[(index * 7 + 3) % len(TAG_POOL)]],
                    definition=definition_for(index, 1),
                    metadata={"author": "bench", "complexity": "medium"},
                )
                version = None
                for revision in range(2, versions + 1):
                    version = services.create_version_live_in_development(
                        actor=actor,
                        template_id=template.pk,
                        definition=definition_for(index, revision),
                        metadata={"changelog": f"revision {revision}"},
                    )
                if index == target_index:
                    target = {
                        "templateId": str(template.pk),
                        "version": version.number if version else "1.0.0",
                        "variables": TARGET_VARIABLES,
                        "expected": expected_text(index, versions, TARGET_VARIABLES),
                        "abTestId": _running_test(actor, template) if versions >= 2 else None,
                    }
        sys.stderr.write(f"seeded {min(batch_start + BATCH, templates)}/{templates} templates\n")
    target["composed"] = _composed(actor, run, target_index, versions)
    return {
        **target,
        "seconds": round(time.monotonic() - started, 1),
        "templates": PromptTemplate.objects.count(),
        "versions": TemplateVersion.objects.count(),
        "vendor": connection.vendor,
    }


def _composed(actor: Any, run: str, index: int, versions: int) -> dict[str, Any]:
    """Two shared parts and a prompt that includes both (pinned), as the rendered template's twin."""
    from lifecycle.releases import services

    safety, style = f"bench-{run}-safety-preamble", f"bench-{run}-house-style"
    services.create_template_live_in_development(actor=actor, name=safety, definition={"content": SAFETY_PART})
    services.create_template_live_in_development(
        actor=actor,
        name=style,
        definition={
            "content": STYLE_PART,
            "variables": text_definition(index, versions)["variables"][0::2],  # product and language
        },
    )
    template = services.create_template_live_in_development(
        actor=actor,
        name=f"bench-{run} composed playbook {index:04d}",
        definition=composed_definition(index, versions, safety, style),
    )
    return {"templateId": str(template.pk), "expected": composed_expected(index, versions, TARGET_VARIABLES)}


def _running_test(actor: Any, template: Any) -> str:
    """An A/B test of the template's last two versions, 50/50, running in development (where every version
    is approved): what render with a subjectId serves from. Its id."""
    from abtesting.services import create_test, start_test

    latest = list(template.versions.order_by("-major", "-minor", "-patch")[:2])
    test = create_test(
        actor=actor,
        name=f"bench test of {template.name}",
        template_id=template.pk,
        environment="development",
        variants=[
            {"id": "control", "template_version_id": latest[0].pk, "traffic_percentage": 50},
            {"id": "candidate", "template_version_id": latest[1].pk, "traffic_percentage": 50},
        ],
    )
    start_test(actor=actor, test_id=test.pk)
    return str(test.pk)


def main() -> None:
    """Parse the sizes, seed, and print the rendered template's description as the last stdout line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--templates", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=5, help="versions per template (at least 1)")
    args = parser.parse_args()
    if args.templates < 1 or args.versions < 1:
        parser.error("--templates and --versions must be at least 1")
    # The rendered template sits in the middle of the registry, and is a text prompt (index % 4 != 3).
    target_index = args.templates // 2
    if target_index % 4 == 3:
        target_index -= 1
    sys.stdout.write(json.dumps(seed(args.templates, args.versions, target_index)) + "\n")


if __name__ == "__main__":
    main()
