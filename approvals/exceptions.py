"""The rules of approval workflows that refuse a request, each with a stable code."""

from lifecycle.core.exceptions import Conflict, NotFound, PermissionDenied


class ApprovalRequestNotFound(NotFound):
    code, message = "approval_request_not_found", "No approval request for this version and environment."


class AlreadyPending(Conflict):
    code, message = "already_pending", "This version already waits for approval in this environment."


class AlreadyApproved(Conflict):
    code, message = "already_approved", "This version is already approved for this environment."


class NotPending(Conflict):
    code, message = "not_pending", "This request is not waiting for decisions any more."


class StageOutOfOrder(Conflict):
    code, message = "stage_out_of_order", "Stages are decided in order."


class SelfApprovalForbidden(PermissionDenied):
    code, message = "self_approval", "The author of a version cannot decide its approval."


class WrongRole(PermissionDenied):
    code, message = "wrong_role", "This stage is decided by another role."


class AlreadyDecidedAStage(PermissionDenied):
    code, message = "already_decided_a_stage", "One person decides at most one stage of a request."
