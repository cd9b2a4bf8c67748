from __future__ import annotations

from django.db import models
from django.utils import timezone

from lifecycle.core.db.encrypted import EncryptedTextField
from lifecycle.core.environments import Environment
from lifecycle.core.ids import uuid7

# A subject (a user, a session) is an A/B test's unit: render and assign take its id, executions report it.
SUBJECT_ID_MAX_LENGTH = 200


class Execution(models.Model):
    """One LLM call an integration made with a version of a template, as it reported it.

    Raw rows are kept for EXECUTION_RETENTION_DAYS; the rollups below keep their sums for good.
    """

    class Status(models.TextChoices):
        SUCCESS = "success"
        ERROR = "error"
        TIMEOUT = "timeout"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)  # time-ordered: cheap appends
    # The ingestion request that stored it: until its PendingBatch is rolled up, queries read it raw.
    batch_id = models.UUIDField(db_index=True)
    # Plain indexed columns, not foreign keys: the version was checked at ingestion, versions are never
    # deleted, and a million rows a day need no per-row constraint check.
    version_id = models.UUIDField()
    template_id = models.UUIDField()
    environment = models.CharField(max_length=20, choices=Environment.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    executed_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    response_time_ms = models.FloatField()
    input_tokens = models.PositiveIntegerField(null=True)
    output_tokens = models.PositiveIntegerField(null=True)
    total_tokens = models.PositiveIntegerField(null=True)
    cost = models.FloatField(null=True)
    provider = models.CharField(max_length=50, blank=True)
    region = models.CharField(max_length=50, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    # The integration's id of the call: reporting it twice for one template stores it once (ExecutionRequest).
    request_id = models.CharField(max_length=200, null=True)
    user_ref = models.CharField(max_length=200, blank=True)  # the integration's own user id
    # The A/B subject it was rendered for (`subjectId`, as render took it); empty: none reported.
    subject_ref = models.CharField(max_length=SUBJECT_ID_MAX_LENGTH, blank=True, default="", db_default="")
    user_satisfaction = models.PositiveSmallIntegerField(null=True)
    converted = models.BooleanField(null=True)
    ab_test_id = models.UUIDField(null=True)
    variant_id = models.CharField(max_length=100, blank=True)
    error_type = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    # Bounded (EXECUTION_PAYLOAD_MAX_CHARS, before encryption) or not kept at all (EXECUTION_STORE_PAYLOADS):
    # they may hold personal data, so they are encrypted at rest once DATA_ENCRYPTION_KEYS is set (also by the
    # bulk insert of ingestion, lifecycle.core.db.bulk). Nothing may filter on them.
    input = EncryptedTextField(blank=True)
    output = EncryptedTextField(blank=True)

    # On PostgreSQL the table is partitioned by day of executed_at (analytics.partitions, migration 0007), and
    # a partitioned table's primary key and unique constraints must include the partition key: there the
    # key is (id, executed_at). Django keeps `id` as the primary key: a uuid7 is unique on its own (48 bits
    # of time and 74 random ones, made once per report), and nothing looks an execution up but by id. For
    # the same reason the request-id dedup cannot be a unique index here: it is ExecutionRequest's.

    class Meta:
        indexes = [
            models.Index(fields=["version_id", "executed_at"], name="execution_version_time"),
            models.Index(fields=["template_id", "executed_at"], name="execution_template_time"),
            models.Index(fields=["executed_at"], name="execution_time"),
            # The executions that name an A/B test, by test and time (A/B results read a window's edges and
            # pending rows raw): partial, so the rest of the table's writes do not pay for it.
            models.Index(
                fields=["ab_test_id", "executed_at"],
                name="execution_test_time",
                condition=models.Q(ab_test_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version_id} {self.status} at {self.executed_at:%Y-%m-%d %H:%M:%S}"


class ExecutionRequest(models.Model):
    """A request id a template's executions were reported with, once: ingestion inserts it ON CONFLICT DO
    NOTHING in the executions' transaction, and stores an execution only for the ids it inserted, so a report
    sent twice (also at the same moment, also to two partitions) is stored once.

    Per template, not across the database: one template's reports can neither reach another's execution by
    its request id nor be dropped as duplicates of ids another template claimed. Reports without a request
    id have no row (they are all stored). Not partitioned: the only unique index that spans every day.
    Retention prunes it by `execution_id`, time-ordered (a uuid7 made when the report was received): a
    request id is remembered for EXECUTION_RETENTION_DAYS after it was received."""

    # The execution stored for it: what a duplicate report's receipt names.
    execution_id = models.UUIDField(primary_key=True)
    template_id = models.UUIDField()
    request_id = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["template_id", "request_id"], name="execution_request_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} of {self.template_id}"


class VariantSubject(models.Model):
    """A subject seen in the executions reported for a variant of an A/B test (`abTestId`, `variantId`, and
    `subjectId`, else `userId`), once. Written at ingestion in the executions' transaction, never on the
    render path, and kept as the rollups are: the sample ratio check counts a variant's distinct subjects
    with one index range count instead of a scan of the test's executions."""

    ab_test_id = models.UUIDField()
    variant_id = models.CharField(max_length=100)
    subject = models.CharField(max_length=SUBJECT_ID_MAX_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ab_test_id", "variant_id", "subject"], name="variant_subject_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} in {self.variant_id} of {self.ab_test_id}"


class VariantSubjectCount(models.Model):
    """How many VariantSubject rows a (test, variant) has: raised in the same transaction as they are
    inserted, by the number actually inserted, so that reading it costs one row whatever the subjects."""

    ab_test_id = models.UUIDField()
    variant_id = models.CharField(max_length=100)
    subjects = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ab_test_id", "variant_id"], name="variant_subject_count_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.subjects} subjects in {self.variant_id} of {self.ab_test_id}"


class PendingBatch(models.Model):
    """A batch of stored executions not yet added to the rollups (analytics.rollups does that, in a worker).

    Written in the same transaction as its executions, deleted in the same transaction as the rollups take
    them in: every execution is counted once, by the rollups or raw, never both, never neither.
    """

    id = models.UUIDField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now)
    executions = models.PositiveIntegerField(default=0, db_default=0)  # how many it stored: a pass's size

    def __str__(self) -> str:
        return f"batch {self.id} of {self.created_at:%Y-%m-%d %H:%M:%S}"


class Sums(models.Model):
    """The sums a rollup keeps of its executions (analytics.aggregates.STAT_FIELDS)."""

    template_id = models.UUIDField()
    version_id = models.UUIDField()
    environment = models.CharField(max_length=20)
    region = models.CharField(max_length=50)
    executions = models.BigIntegerField(default=0)
    successes = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    timeouts = models.BigIntegerField(default=0)
    response_time_sum = models.FloatField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    cost = models.FloatField(default=0)
    satisfaction_sum = models.BigIntegerField(default=0)
    satisfaction_count = models.BigIntegerField(default=0)
    conversions = models.BigIntegerField(default=0)
    conversion_reports = models.BigIntegerField(default=0)
    # Sums of squares (of response_time_ms, total_tokens, cost, user_satisfaction over the executions that
    # report them): with n and the sum, the variance of each mean, which A/B results' Welch tests need.
    # Rows rolled up before these existed hold 0 here.
    response_time_sq = models.FloatField(default=0)
    total_tokens_sq = models.FloatField(default=0)
    cost_sq = models.FloatField(default=0)
    satisfaction_sq = models.FloatField(default=0)

    class Meta:
        abstract = True


class HourlyStats(Sums):
    """Sums of one hour of executions of one version in one environment and region."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "version_id", "environment", "region"], name="hourly_stats_key"),
        ]
        indexes = [
            models.Index(fields=["template_id", "hour"], name="hourly_stats_template"),
            models.Index(fields=["version_id", "hour"], name="hourly_stats_version"),
        ]

    def __str__(self) -> str:
        return f"{self.version_id} {self.environment} {self.region} {self.hour:%Y-%m-%d %H}h"


class DailyStats(Sums):
    """Sums of one day (UTC) of executions of one version in one environment and region: a 30-day window
    reads 30 of these per version and region instead of 720 hourly rows."""

    day = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "version_id", "environment", "region"], name="daily_stats_key"),
        ]
        indexes = [
            models.Index(fields=["template_id", "day"], name="daily_stats_template"),
            models.Index(fields=["version_id", "day"], name="daily_stats_version"),
        ]

    def __str__(self) -> str:
        return f"{self.version_id} {self.environment} {self.region} {self.day:%Y-%m-%d}"


class VariantSums(Sums):
    """Sums of the executions reported for one variant of one A/B test (`abTestId` and a non-empty
    `variantId`), per version and environment (`region` is not kept: always empty). What A/B results count a
    variant by: its own executions by their variantId, and, through the difference between a version's sums
    and these, the executions of its version that name no variant."""

    ab_test_id = models.UUIDField()
    variant_id = models.CharField(max_length=100)
    region = models.CharField(max_length=50, blank=True, default="", db_default="")

    class Meta:
        abstract = True


class VariantHourlyStats(VariantSums):
    """VariantSums of one hour."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "ab_test_id", "variant_id", "version_id", "environment"], name="variant_hourly_key"
            ),
        ]
        indexes = [
            models.Index(fields=["ab_test_id", "hour"], name="variant_hourly_test"),
            models.Index(fields=["version_id", "hour"], name="variant_hourly_version"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} of {self.ab_test_id} ({self.version_id}) {self.hour:%Y-%m-%d %H}h"


class VariantDailyStats(VariantSums):
    """VariantSums of one UTC day: a month-long test reads 30 rows per variant, not 720."""

    day = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "ab_test_id", "variant_id", "version_id", "environment"], name="variant_daily_key"
            ),
        ]
        indexes = [
            models.Index(fields=["ab_test_id", "day"], name="variant_daily_test"),
            models.Index(fields=["version_id", "day"], name="variant_daily_version"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} of {self.ab_test_id} ({self.version_id}) {self.day:%Y-%m-%d}"


class VariantLatencyHistogram(models.Model):
    """The response times of one hour (or one day) of one variant's executions (as VariantSums), per version
    and environment (analytics.histogram)."""

    period = models.CharField(max_length=4, choices=[("hour", "hour"), ("day", "day")])
    starts_at = models.DateTimeField()
    ab_test_id = models.UUIDField()
    variant_id = models.CharField(max_length=100)
    template_id = models.UUIDField()
    version_id = models.UUIDField()
    environment = models.CharField(max_length=20)
    counts = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "starts_at", "ab_test_id", "variant_id", "version_id", "environment"],
                name="variant_latency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["period", "ab_test_id", "starts_at"], name="variant_latency_test"),
            models.Index(fields=["period", "version_id", "starts_at"], name="variant_latency_version"),
        ]

    def __str__(self) -> str:
        where = f"{self.variant_id} of {self.ab_test_id} {self.environment}"
        return f"{where} {self.period} from {self.starts_at:%Y-%m-%d %H}h"


class LatencyHistogram(models.Model):
    """The response times of one hour (or one day) of one version in one environment (analytics.histogram)."""

    class Period(models.TextChoices):
        HOUR = "hour"
        DAY = "day"

    period = models.CharField(max_length=4, choices=Period.choices)
    starts_at = models.DateTimeField()
    template_id = models.UUIDField()
    version_id = models.UUIDField()
    environment = models.CharField(max_length=20)
    counts = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "starts_at", "version_id", "environment"], name="latency_histogram_key"
            ),
        ]
        indexes = [
            models.Index(fields=["period", "template_id", "starts_at"], name="latency_template"),
            models.Index(fields=["period", "version_id", "starts_at"], name="latency_version"),
        ]

    def __str__(self) -> str:
        return f"{self.version_id} {self.environment} {self.period} from {self.starts_at:%Y-%m-%d %H}h"


class ErrorTally(models.Model):
    """Some time of one error type of one version in one environment: how many, when, a few messages."""

    template_id = models.UUIDField()
    version_id = models.UUIDField()
    environment = models.CharField(max_length=20)
    error_type = models.CharField(max_length=100)
    occurrences = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    samples = models.JSONField(default=list)  # up to SAMPLE_MESSAGES distinct messages

    class Meta:
        abstract = True


class HourlyErrors(ErrorTally):
    """One hour of one error type of one version in one environment."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "version_id", "environment", "error_type"], name="hourly_errors_key"
            ),
        ]
        indexes = [
            models.Index(fields=["template_id", "hour"], name="hourly_errors_template"),
            models.Index(fields=["version_id", "hour"], name="hourly_errors_version"),
        ]

    def __str__(self) -> str:
        return f"{self.error_type} x{self.occurrences} at {self.hour:%Y-%m-%d %H}h"


class DailyErrors(ErrorTally):
    """One day (UTC) of one error type of one version in one environment: a 30-day window reads 30 of these
    per type instead of 720 hourly rows."""

    day = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "version_id", "environment", "error_type"], name="daily_errors_key"),
        ]
        indexes = [
            models.Index(fields=["template_id", "day"], name="daily_errors_template"),
            models.Index(fields=["version_id", "day"], name="daily_errors_version"),
        ]

    def __str__(self) -> str:
        return f"{self.error_type} x{self.occurrences} on {self.day:%Y-%m-%d}"
