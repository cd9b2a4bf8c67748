from lifecycle.core.exceptions import NotFound


class RuleNotFound(NotFound):
    code, message = "rule_not_found", "No trigger rule with this id."
