"""The environments a version can be approved for and deployed to."""

from django.db import models

from lifecycle.core.exceptions import InvalidInput


class Environment(models.TextChoices):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


ENVIRONMENTS: tuple[str, ...] = tuple(Environment.values)
NOT_AN_ENVIRONMENT = f"must be one of {', '.join(ENVIRONMENTS)}"


def check_environment(value: object, field: str = "environment") -> str:
    """`value` if it names an environment; else InvalidInput naming `field` (a 400)."""
    if isinstance(value, str) and value in ENVIRONMENTS:
        return value
    raise InvalidInput.at(field, NOT_AN_ENVIRONMENT)
