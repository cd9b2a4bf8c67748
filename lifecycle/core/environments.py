"""The environments a version can be approved for and deployed to."""

from django.db import models


class Environment(models.TextChoices):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


ENVIRONMENTS: tuple[str, ...] = tuple(Environment.values)
