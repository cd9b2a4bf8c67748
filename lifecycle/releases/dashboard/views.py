"""The dashboard's overview: every template the user may read the numbers of, and what each environment
serves of it. Its layout is analytics' (DESIGN.md: analytics owns the dashboard); the overview is composed
here because it gathers what several apps know (what is live where is this app's).

Signed in with a Django session (the admin's users and passwords); anonymous visitors go to the sign-in page.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analytics.permissions import templates_with_numbers_for
from lifecycle.core.environments import Environment
from lifecycle.core.roles import acting_user
from lifecycle.releases import selectors

# Templates shown at once; a search narrows them.
OVERVIEW_LIMIT = 500
SEARCH_MAX_LENGTH = 200


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    visible = templates_with_numbers_for(acting_user(request)).order_by("name")
    if query:
        visible = visible.filter(name__icontains=query)
    templates = list(visible[: OVERVIEW_LIMIT + 1])
    shown = templates[:OVERVIEW_LIMIT]
    serving = selectors.active_versions_by_template([template.pk for template in shown])
    rows: list[dict[str, Any]] = [
        {
            "template": template,
            "serving": [serving.get((template.pk, environment)) for environment in Environment.values],
        }
        for template in shown
    ]
    context = {
        "query": query,
        "rows": rows,
        "environments": Environment.values,
        "more": len(templates) > OVERVIEW_LIMIT,
        "limit": OVERVIEW_LIMIT,
    }
    return render(request, "dashboard/overview.html", context)
