from lifecycle.core.exceptions import Conflict, NotFound


class NothingActive(NotFound):
    code, message = "nothing_active", "No version of this template is active in this environment."


class NotApproved(Conflict):
    code, message = "not_approved", "This version is not approved for this environment."
