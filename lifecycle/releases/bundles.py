"""What a client that renders by itself needs to serve a set of templates in one environment, in one answer
(`GET /api/templates/bundle`): which version each serves, the A/B test live on it with its variants, and
every one of those versions, compiled as the server renders it (promptrender's wire format).

Clients ask again every few seconds with the ETag they hold and get a 304 until something they use has
changed: a deploy, a rollback, a test started, paused, resumed or ended.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.db.models import Q
from promptrender.names import name_key

from abtesting.models import ABTest
from abtesting.serving import test_variants
from lifecycle.core.db.snapshots import one_snapshot
from lifecycle.core.exceptions import NotFound
from lifecycle.releases.models import Deployment, TemplateSet
from templates_app.models import PromptTemplate
from templates_app.selectors import render_plan

# The templates a query string may name (its length is bounded by the web server: about 4 KB); a registered
# set (register_set) may hold many more.
MAX_BUNDLE_TEMPLATES = 50
MAX_SET_TEMPLATES = 2000
MAX_REFERENCE_LENGTH = 200


@dataclass(frozen=True)
class Bundle:
    body: dict[str, Any]
    etag: str  # names the body: equal bodies, equal tags


def _as_id(reference: str) -> UUID | None:
    try:
        return UUID(reference)
    except ValueError:
        return None


def _templates_named(references: Sequence[str]) -> dict[str, tuple[UUID, str]]:
    """Each reference that names a template (by id, or by name ignoring case): (its id, its name)."""
    ids = {reference: as_id for reference in references if (as_id := _as_id(reference)) is not None}
    keys = {reference: name_key(reference) for reference in references if reference not in ids}
    rows = PromptTemplate.objects.filter(Q(pk__in=set(ids.values())) | Q(name_key__in=set(keys.values())))
    by_id, by_name = {}, {}
    for pk, name, key in rows.values_list("pk", "name", "name_key"):
        by_id[pk] = by_name[key] = (pk, name)
    named: dict[str, tuple[UUID, str]] = {}
    for reference in references:
        match = by_id.get(ids[reference]) if reference in ids else by_name.get(keys[reference])
        if match is not None:
            named[reference] = match
    return named


def _live_tests(template_ids: set[UUID], environment: str) -> dict[UUID, tuple[UUID, bool]]:
    """The test live on each template in the environment: the running one, else the one paused last (as
    render's live_test_sql chooses), as (test id, running)."""
    rows = ABTest.objects.filter(
        template_id__in=template_ids,
        environment=environment,
        state__in=[ABTest.State.RUNNING, ABTest.State.PAUSED],
    ).values_list("template_id", "pk", "state", "paused_at")
    chosen: dict[UUID, tuple[UUID, bool, datetime]] = {}
    for template_id, test_id, state, paused_at in rows:
        # Running first (one at most: a constraint), then the one paused last.
        candidate = (test_id, state == ABTest.State.RUNNING, paused_at or datetime.min.replace(tzinfo=UTC))
        held = chosen.get(template_id)
        if held is None or (candidate[1], candidate[2]) > (held[1], held[2]):
            chosen[template_id] = candidate
    return {template_id: (test_id, running) for template_id, (test_id, running, _) in chosen.items()}


def client_bundle(references: Sequence[str], environment: str) -> Bundle:
    """The bundle of the referenced templates (ids or names; unknown ones listed under `missing`) in the
    environment. Every signed-in user may render, so every one may read it."""
    unique = list(dict.fromkeys(references))
    with one_snapshot():  # what is deployed and what is tested, as one moment saw them
        named = _templates_named(unique)
        template_ids = {template_id for template_id, _ in named.values()}
        active = dict(
            Deployment.objects.filter(
                template_id__in=template_ids, environment=environment, state=Deployment.State.ACTIVE
            ).values_list("template_id", "version_id")
        )
        live = _live_tests(template_ids, environment)
    templates, version_ids = [], set(active.values())
    for reference in unique:
        if reference not in named:
            continue
        template_id, name = named[reference]
        entry: dict[str, Any] = {
            "reference": reference,
            "templateId": str(template_id),
            "name": name,
            "activeVersionId": str(active[template_id]) if template_id in active else None,
            "abTest": None,
        }
        if template_id in live:
            test_id, running = live[template_id]
            variants = test_variants(test_id)
            entry["abTest"] = {
                "id": str(test_id),
                "running": running,
                "variants": [
                    {
                        "id": variant.key,
                        "versionId": str(variant.version_id),
                        "trafficPercentage": percentage,
                        "control": variant.is_control,
                    }
                    for variant, percentage in zip(variants.variants, variants.percentages, strict=True)
                ],
            }
            version_ids.update(variant.version_id for variant in variants.variants)
        templates.append(entry)
    body = {
        "environment": environment,
        "templates": templates,
        "versions": {str(version_id): render_plan(version_id).to_json() for version_id in sorted(version_ids)},
        "missing": [reference for reference in unique if reference not in named],
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Bundle(body, f'"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"')


def set_id_of(references: Sequence[str], environment: str) -> str:
    """The name of a set: a digest of its environment and references (each once, in any order: clients that
    met the same templates in another order share one set)."""
    canonical = json.dumps([environment, sorted(set(references))], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def register_set(references: Sequence[str], environment: str) -> TemplateSet:
    """The set of these references in the environment, registered if it is new (any client may register
    any set: it names templates, and reading them is everyone's)."""
    unique = sorted(set(references))
    found, _ = TemplateSet.objects.get_or_create(
        pk=set_id_of(unique, environment), defaults={"environment": environment, "references": unique}
    )
    return found


def set_bundle(set_id: str) -> Bundle:
    """The bundle of a registered set; NotFound if no set has this id."""
    found = TemplateSet.objects.filter(pk=set_id).first()
    if found is None:
        raise NotFound("No template set has this id: register it again with POST /api/templates/bundle.")
    return client_bundle(found.references, found.environment)
