"""The rules of A/B tests that refuse a request, each with a stable code."""

from lifecycle.core.exceptions import Conflict, NotFound


class ABTestNotFound(NotFound):
    code, message = "abtest_not_found", "No A/B test with this id."


class IllegalTransition(Conflict):
    code, message = "illegal_transition", "The test cannot make this change in its current state."


class AnotherTestRunning(Conflict):
    code, message = (
        "abtest_already_running",
        "Another A/B test of this template runs in this environment; stop or pause it first.",
    )


class VariantNotApproved(Conflict):
    code, message = "variant_not_approved", "A variant's version is not approved for the test's environment."


class EndDatePassed(Conflict):
    code, message = "end_date_passed", "The test's end date has passed: it cannot run any more."


class TestNotLive(Conflict):
    code, message = "abtest_not_live", "The test has ended: it assigns no one."
