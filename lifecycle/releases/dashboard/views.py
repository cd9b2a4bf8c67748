"""The dashboard's pages. Their layout is analytics' (DESIGN.md: analytics owns the dashboard); the pages are
composed here because they gather what several apps know (what is live where, and rollbacks, are this app's).

Every figure comes from the function that answers the API for it (analytics.metrics, abtesting.results), so
a page and the API never disagree. Signed in with a Django session (the admin's users and passwords);
anonymous visitors go to the sign-in page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from abtesting.selectors import abtests_matching
from analytics.metrics import template_analytics, templates_overview
from analytics.pages import page
from analytics.periods import LABELS, period_from
from analytics.permissions import templates_with_numbers_for
from lifecycle.core.environments import Environment
from lifecycle.core.exceptions import DomainError
from lifecycle.core.roles import Role, acting_user, has_role
from lifecycle.releases import selectors, services
from lifecycle.releases.dashboard.attention import attention_for
from lifecycle.releases.dashboard.drawing import (
    SORTABLE,
    SPARK_HEIGHT,
    SPARK_WIDTH,
    bucket_keys,
    markers,
    series_charts,
    sorted_rows,
    sparkline,
)
from lifecycle.releases.models import Deployment
from lifecycle.releases.permissions import ROLL_BACK, ROLL_BACK_IN_EMERGENCY
from lifecycle.releases.rules.models import Alert
from templates_app.diff import diff_versions
from templates_app.diff_display import diff_html
from templates_app.selectors import template_row, versions_of

SEARCH_MAX_LENGTH = 200
# Versions shown with their diffs on a template's page, newest first; deployments listed, newest first.
VERSIONS_SHOWN = 10
DEPLOYMENTS_SHOWN = 100


@page
def overview(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    now = timezone.now()
    period = period_from(request.GET.dict(), now)
    query = request.GET.get("q", "").replace("\x00", "").strip()[:SEARCH_MAX_LENGTH]
    sort = request.GET.get("sort", "name")
    descending = request.GET.get("dir") == "desc"
    numbers = templates_overview(actor=user, window=period.window, granularity=period.granularity, name_contains=query)
    serving = selectors.active_versions_by_template([row["templateId"] for row in numbers["templates"]])
    buckets = bucket_keys(period.window, period.granularity)
    rows: list[dict[str, Any]] = [
        {
            "numbers": row,
            "serving": [serving.get((UUID(row["templateId"]), environment)) for environment in Environment.values],
            "spark": sparkline(row["trend"], buckets),
        }
        for row in numbers["templates"]
    ]
    kept = {**period.as_query(), **({"q": query} if query else {})}
    columns = [
        {
            "key": key,
            "label": label,
            "sorted": sort == key,
            "descending": descending,
            # A click sorts by the column, the other way round when it already is.
            "href": "?" + urlencode({**kept, "sort": key, "dir": "asc" if sort == key and descending else "desc"}),
        }
        for key, label in SORTABLE.items()
    ]
    context = {
        "period": period,
        "periods": LABELS,
        "period_query": urlencode(period.as_query()),
        "numbers": numbers,
        "query": query,
        "rows": sorted_rows(rows, sort, descending),
        "columns": columns,
        "environments": Environment.values,
        "sort": sort,
        "direction": "desc" if descending else "asc",
        "attention": attention_for(user, period.window, now),
        "spark_width": SPARK_WIDTH,
        "spark_height": SPARK_HEIGHT,
    }
    return render(request, "dashboard/overview.html", context)


@page
def template_page(request: HttpRequest, template_id: UUID) -> HttpResponse:
    user = acting_user(request)
    now = timezone.now()
    period = period_from(request.GET.dict(), now)
    environment = request.GET.get("environment") or None
    if environment not in (None, *Environment.values):
        environment = None
    analytics = template_analytics(
        actor=user,
        template_id=template_id,
        window=period.window,
        environment=environment,
        granularity=period.granularity,
        now=now,
    )  # checks that the user may read the template's numbers
    deployments = list(selectors.deployments_of_template(template_id)[:DEPLOYMENTS_SHOWN])
    rollbacks = list(selectors.rollback_history(template_id))
    versions = list(versions_of(template_id)[: VERSIONS_SHOWN + 1])
    shown = versions[:VERSIONS_SHOWN]
    diffs = [
        (version, diff_html(diff_versions(before, version), f"against {before.number}" if before else "first version"))
        for version, before in zip(shown, [*versions[1:], None], strict=False)
    ]
    context = {
        "template": template_row(template_id),
        "abtests": list(abtests_matching(template_id=template_id).order_by("-created_at")[:20]),
        "template_id": template_id,
        "period": period,
        "periods": LABELS,
        "period_query": urlencode(period.as_query()),
        "environment": environment,
        "environments": Environment.values,
        "analytics": analytics,
        "charts": series_charts(analytics, markers(deployments, rollbacks, period.window, environment)),
        "deployments": deployments,
        "rollbacks": rollbacks[:20],
        "diffs": diffs,
        "more_versions": len(versions) > VERSIONS_SHOWN,
    }
    return render(request, "dashboard/template.html", context)


# Rollbacks and alerts listed, newest first.
HISTORY_SHOWN = 50
ACTIVE_SHOWN = 200


@page
@require_http_methods(["GET", "POST"])
def rollbacks_page(request: HttpRequest) -> HttpResponse:
    """Rollbacks and alerts with their evidence, and (for deployers) a manual or emergency rollback of what
    serves: the API's services, with the API's confirmation (what the button rolls back must still be what
    serves: a 409 otherwise) and a box to tick."""
    user = acting_user(request)
    if request.method == "POST":
        return _roll_back(request)
    visible = templates_with_numbers_for(user)
    chosen = request.GET.get("template", "")
    if chosen:
        try:
            chosen = str(UUID(chosen))  # as URLs write it, whatever form was given
            visible = visible.filter(pk=chosen)
        except ValueError:
            chosen = ""
    rollbacks = selectors.rollbacks_for_listing().filter(template__in=visible.values("pk"))
    alerts = Alert.objects.filter(template__in=visible.values("pk")).select_related("template").order_by("-fired_at")
    may_roll_back = has_role(user, *ROLL_BACK)
    may_roll_back_in_emergency = has_role(user, *ROLL_BACK_IN_EMERGENCY)
    active: list[dict[str, Any]] = []
    if may_roll_back or may_roll_back_in_emergency:
        deployments = (
            Deployment.objects.filter(state=Deployment.State.ACTIVE, template__in=visible.values("pk"))
            .select_related("template", "version")
            .order_by("template__name", "environment")[:ACTIVE_SHOWN]
        )
        earlier = selectors.earlier_versions_by_deployment(deployments)
        active = [{"deployment": deployment, "targets": earlier.get(deployment.pk, [])} for deployment in deployments]
    context = {
        "chosen": chosen,
        "rollbacks": list(rollbacks[:HISTORY_SHOWN]),
        "alerts": list(alerts[:HISTORY_SHOWN]),
        "active": active,
        "may_roll_back": may_roll_back,
        "may_roll_back_in_emergency": may_roll_back_in_emergency,
        "security_only": not may_roll_back and has_role(user, Role.SECURITY),
    }
    return render(request, "dashboard/rollbacks.html", context)


def _roll_back(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    form = request.POST
    back = redirect(f"{request.path}?template={form.get('template', '')}")
    if form.get("confirm") != "yes":
        messages.error(request, "Nothing rolled back: tick the box to confirm the rollback.")
        return back
    try:
        if form.get("kind") == "emergency":
            rollback = services.roll_back_in_emergency(
                actor=user,
                template_id=UUID(form.get("template", "")),
                environment=form.get("environment", ""),
                reason=form.get("reason", ""),
            )
        else:
            rollback = services.initiate_rollback(
                actor=user,
                current_version_id=UUID(form.get("current", "")),
                target_version_id=UUID(form.get("target", "")),
                reason=form.get("reason", ""),
                environment=form.get("environment", ""),
            )
    except ValueError:
        messages.error(request, "Nothing rolled back: the form named no valid template or version.")
        return back
    except DomainError as refusal:
        messages.error(request, f"Nothing rolled back: {refusal.message}")
        return back
    messages.success(
        request,
        f"Rolled back {rollback.template.name} in {rollback.environment}: "
        f"{rollback.from_version.number} → {rollback.to_version.number}.",
    )
    return back
