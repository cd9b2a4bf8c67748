from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from lifecycle.core.environments import Environment
from lifecycle.core.ids import uuid7

# A variant's id is the README's string ("control", "variant-a"); executions report it as `variantId`, which
# the execution API stores in at most 100 characters (analytics.models.Execution.variant_id).
VARIANT_ID_MAX_LENGTH = 100
NAME_MAX_LENGTH = 200
# The confidence a test's comparisons are read at: 80 % to 99.9 % (beyond, no test ever ends; below, noise wins).
CONFIDENCE_LEVEL = (0.8, 0.999)
DEFAULT_CONFIDENCE_LEVEL = 0.95
DEFAULT_MINIMUM_SAMPLE_SIZE = 100


class MetricType(models.TextChoices):
    """What a success or guardrail metric measures, per variant, from the executions reported for it."""

    CONVERSION_RATE = "conversion_rate"  # percent of executions with `converted` true
    USER_SATISFACTION = "user_satisfaction"  # mean of `userSatisfaction` (1-5)
    RESPONSE_TIME = "response_time"  # mean response time, ms (lower is better)
    SUCCESS_RATE = "success_rate"  # percent of executions with status success
    COST = "cost"  # mean cost per execution (lower is better)
    TOKEN_USAGE = "token_usage"  # mean total tokens per execution (lower is better)


class ABTest(FSMModelMixin, models.Model):
    """A comparison of versions of one template on live traffic in one environment, with its variants."""

    class State(models.TextChoices):
        DRAFT = "draft"
        RUNNING = "running"
        PAUSED = "paused"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    template = models.ForeignKey("templates_app.PromptTemplate", on_delete=models.PROTECT, related_name="ab_tests")
    environment = models.CharField(max_length=20, choices=Environment.choices)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True)
    hypothesis = models.TextField(blank=True)
    state = FSMField(choices=State.choices, default=State.DRAFT, protected=True)
    # As planned by its author: the test runs from `start` to `stop` (started_at, stopped_at); once end_date
    # has come, the beat's task completes it (services.stop_ended_tests).
    start_date = models.DateTimeField(null=True, blank=True)
    end_date = models.DateTimeField(null=True, blank=True)
    confidence_level = models.FloatField(default=DEFAULT_CONFIDENCE_LEVEL)
    minimum_sample_size = models.PositiveIntegerField(default=DEFAULT_MINIMUM_SAMPLE_SIZE)
    # [{name, type (MetricType), target (a number or null), weight, description}]: weights sum to 1; the
    # heaviest is the primary metric. Guardrails: [{name, type, description}], metrics that must not get
    # worse. Checked by abtesting.validation when the test is created, fixed from then on.
    success_metrics = models.JSONField(default=list)
    guardrail_metrics = models.JSONField(default=list, blank=True)
    # Whether the beat task may stop it once a winner is clear (by a sequential method).
    auto_stop = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)  # the first start: the running period begins
    paused_at = models.DateTimeField(null=True, blank=True)  # the last pause (cleared on resume)
    stopped_at = models.DateTimeField(null=True, blank=True)  # completed or cancelled
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Why it ended, in words ("stopped by <user>", "end date reached", "promoted variant-a").
    stop_reason = models.CharField(max_length=500, blank=True)
    # The variant (its id) declared the winner when it ended, if any (promotion, or auto-stop).
    winner = models.CharField(max_length=VARIANT_ID_MAX_LENGTH, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "A/B test"
        verbose_name_plural = "A/B tests"
        ordering = ["-created_at"]
        constraints = [
            # The database, not only the code, keeps one running test per template and environment: render
            # serves the running test's variants, and two would fight over the same traffic.
            models.UniqueConstraint(
                fields=["template", "environment"],
                condition=models.Q(state="running"),
                name="one_running_abtest_per_environment",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    confidence_level__gte=CONFIDENCE_LEVEL[0], confidence_level__lte=CONFIDENCE_LEVEL[1]
                ),
                name="abtest_confidence_level_range",
            ),
            models.CheckConstraint(condition=models.Q(minimum_sample_size__gte=1), name="abtest_minimum_sample_size"),
        ]
        indexes = [models.Index(fields=["template", "state"], name="abtest_template_state")]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    @transition(field=state, source=State.DRAFT, target=State.RUNNING)
    def start(self) -> None:
        self.started_at = timezone.now()

    @transition(field=state, source=State.RUNNING, target=State.PAUSED)
    def pause(self) -> None:
        self.paused_at = timezone.now()

    @transition(field=state, source=State.PAUSED, target=State.RUNNING)
    def resume(self) -> None:
        self.paused_at = None

    @transition(field=state, source=[State.RUNNING, State.PAUSED], target=State.COMPLETED)
    def complete(self, *, by: Any, reason: str, winner: str = "") -> None:
        self.stopped_at, self.stopped_by, self.stop_reason, self.winner = timezone.now(), by, reason, winner

    @transition(field=state, source=[State.DRAFT, State.PAUSED], target=State.CANCELLED)
    def cancel(self, *, by: Any, reason: str) -> None:
        self.stopped_at, self.stopped_by, self.stop_reason = timezone.now(), by, reason


class Variant(models.Model):
    """One arm of a test: a version of the test's template and its share of the traffic."""

    test = models.ForeignKey(ABTest, on_delete=models.CASCADE, related_name="variants")
    # The README's `id` ("control", "variant-a"): unique within its test, what executions report as variantId.
    key = models.CharField(max_length=VARIANT_ID_MAX_LENGTH)
    # Its place in the request's list: assignment lays the traffic buckets out in this order.
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True)
    template_version = models.ForeignKey("templates_app.TemplateVersion", on_delete=models.PROTECT, related_name="+")
    # Percent of the test's traffic, to the hundredth; a test's variants sum to exactly 100.
    traffic_percentage = models.DecimalField(max_digits=5, decimal_places=2)
    is_control = models.BooleanField(default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["test", "position"]
        constraints = [
            models.UniqueConstraint(fields=["test", "key"], name="variant_key_unique_in_test"),
            models.UniqueConstraint(fields=["test", "position"], name="variant_position_unique_in_test"),
            models.UniqueConstraint(
                fields=["test"], condition=models.Q(is_control=True), name="one_control_variant_per_test"
            ),
            models.CheckConstraint(
                condition=models.Q(traffic_percentage__gt=0, traffic_percentage__lte=100),
                name="variant_traffic_percentage_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.traffic_percentage} %)"
