from lifecycle.core.exceptions import Conflict, InvalidInput, NotFound


class NothingActive(NotFound):
    code, message = "nothing_active", "No version of this template is active in this environment."


class NotApproved(Conflict):
    code, message = "not_approved", "This version is not approved for this environment."


class RollbackInvalid(InvalidInput):
    """The target may not replace the current version (`fields`: each reason, under the field it is about)."""

    code, message = "rollback_invalid", "This rollback is not valid."


class CurrentNotActive(Conflict):
    code, message = "current_not_active", "The current version is no longer the active one in this environment."


class RollbackInProgress(Conflict):
    code, message = (
        "rollback_in_progress",
        "Another rollback of this template in this environment is in progress; look again when it is done.",
    )


class NoRollbackTarget(Conflict):
    code, message = "no_rollback_target", "There is no earlier good version to roll back to."


class RolledBackMeanwhile(Conflict):
    code, message = (
        "rolled_back_meanwhile",
        "A rollback changed what this environment serves while the deploy was on its way; nothing was deployed. "
        "Look at what serves now, and deploy again if you still mean to.",
    )


class ServingChangedMeanwhile(Conflict):
    code, message = (
        "changed_meanwhile",
        "What this environment serves changed while the request was on its way (another rollback, or a deploy); "
        "nothing was done. Look at what serves now, and try again if you still mean to.",
    )
