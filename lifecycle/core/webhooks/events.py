"""The lifecycle events a webhook subscription may ask for, and what each means."""

from __future__ import annotations

EVENTS: dict[str, str] = {
    "version.created": "a template's new version was created (its first version too)",
    "approval.submitted": "a version was submitted for approval to an environment",
    "approval.stage_decided": "a reviewer approved or rejected a stage of a request",
    "approval.approved": "a request's last stage was approved: the version may be deployed there",
    "approval.rejected": "a request was rejected",
    "deployment.activated": "a version became the one a template serves in an environment",
    "rollback.completed": "an environment went back to an earlier version (manual, emergency or automatic)",
    "alert.fired": "a rollback trigger rule's condition held: its alert fired",
    "abtest.started": "an A/B test started, or resumed after a pause",
    "abtest.stopped": "an A/B test ended (completed or cancelled)",
    "abtest.promoted": "an A/B test's variant was promoted: deployed for everyone",
}
