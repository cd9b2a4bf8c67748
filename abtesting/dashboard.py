"""The dashboard's A/B test page: the results GET /api/abtests/{id}/results answers (abtesting.results), drawn."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from abtesting.models import ABTest
from abtesting.results import results_for
from abtesting.selectors import abtest_by_id
from analytics.pages import page
from lifecycle.core.roles import acting_user

# A running test's page reloads itself this often (seconds): its results move with every execution.
REFRESH_SECONDS = 30

# The variant figures drawn with their intervals: (the results' key, title, unit).
FIGURES = [
    ("successRate", "Success rate", "%"),
    ("averageResponseTime", "Average response time", "ms"),
    ("p95ResponseTime", "p95 response time", "ms"),
    ("averageSatisfaction", "Satisfaction", ""),
    ("averageCost", "Average cost", ""),
    ("averageTokens", "Average tokens", ""),
    ("conversionRate", "Conversion rate", "%"),
]


def interval_charts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each figure's estimate and confidence interval per variant, for the page's interval charts; the
    figures no variant has a value for are left out."""
    charts = []
    for key, title, unit in FIGURES:
        variants = results["variantResults"]
        if all(variant[key] is None for variant in variants):
            continue
        charts.append(
            {
                "key": key,
                "title": title,
                "unit": unit,
                "labels": [variant["variantId"] for variant in variants],
                "estimates": [variant[key] for variant in variants],
                "intervals": [
                    [interval["lower"], interval["upper"]] if (interval := variant["intervals"].get(key)) else None
                    for variant in variants
                ],
            }
        )
    return charts


@page
def abtest_page(request: HttpRequest, test_id: UUID) -> HttpResponse:
    results = results_for(actor=acting_user(request), test_id=test_id, now=timezone.now())  # checks the reader
    test = abtest_by_id(test_id)
    srm = results["sampleRatioMismatch"]
    total_subjects = sum(srm["observed"].values())
    split = [
        {
            "variant": variant["variantId"],
            "configured": variant["trafficPercentage"],
            "subjects": srm["observed"][variant["variantId"]],
            "expected": srm["expected"][variant["variantId"]],
            "observed": round(100 * srm["observed"][variant["variantId"]] / total_subjects, 2)
            if total_subjects
            else None,
        }
        for variant in results["variantResults"]
    ]
    variant_rows = [
        {
            "variant": variant,
            "cells": [(variant[key], variant["intervals"].get(key), unit) for key, _, unit in FIGURES],
        }
        for variant in results["variantResults"]
    ]
    context = {
        "test": test,
        "variant_rows": variant_rows,
        "results": results,
        "figures": FIGURES,
        "split": split,
        "charts": interval_charts(results),
        "refresh": REFRESH_SECONDS if test.state == ABTest.State.RUNNING else 0,
    }
    return render(request, "dashboard/abtest.html", context)
