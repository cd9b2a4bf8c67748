"""Factories (factory-boy) of what tests make over and over: users with roles, the payloads integrations
send, and templates made as the API makes them (through the services, never straight into tables, so
that every test object is one the product could have made)."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth.models import Group, User


class UserFactory(factory.django.DjangoModelFactory):
    """UserFactory(roles=["author", "deployer"], is_superuser=False): a user holding those roles (groups)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = factory.LazyAttribute(lambda user: user.is_superuser)
    is_superuser = False

    @factory.post_generation
    def roles(user: User, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805 (the made object)
        # get_or_create: a transactional test's flush removes the groups the migration seeded.
        user.groups.add(*[Group.objects.get_or_create(name=role)[0] for role in extracted or ()])


class TemplatePayloadFactory(factory.DictFactory):
    """The original README's create-template payload (POST /api/templates), with a unique name."""

    name = factory.Sequence(lambda n: f"Customer Support Response {n}")
    description = "Template for generating customer support responses"
    content = "Please respond to the customer inquiry: {{inquiry}}"
    variables = factory.LazyFunction(
        lambda: [{"name": "inquiry", "type": "string", "required": True, "description": "Customer inquiry text"}]
    )
    provider = "claude"
    modelConfig = factory.LazyFunction(lambda: {"model": "claude-sonnet", "temperature": 0.2, "maxTokens": 500})
    category = "generation"
    tags = factory.LazyFunction(lambda: ["support", "customer-service"])
    metadata = factory.LazyFunction(
        lambda: {
            "author": "support-team",
            "version": "1.0.0",
            "changelog": "Initial version",
            "estimatedTokens": 100,
            "complexity": "low",
            "usageContext": ["customer-support"],
        }
    )


class ExecutionReportFactory(factory.DictFactory):
    """An execution as an integration reports it (POST /api/executions): ExecutionReportFactory(version=v)."""

    class Params:
        version = None

    templateVersionId = factory.LazyAttribute(lambda report: str(report.version.pk))
    userId = "user-456"
    input = factory.LazyFunction(lambda: {"inquiry": "How do I reset my password?"})
    output = "To reset your password, please..."
    provider = "claude"
    tokenUsage = factory.LazyFunction(lambda: {"inputTokens": 15, "outputTokens": 45, "totalTokens": 60, "cost": 0.002})
    responseTime = 1200
    status = "success"
    environment = "production"
    metadata = factory.LazyFunction(lambda: {"userAgent": "Mozilla/5.0", "region": "eu-central-1"})


def create_template(actor: User, *, service: Any = None, **overrides: Any) -> Any:
    """A template made as POST /api/templates makes it (first version active in development), by `actor`;
    or by another `service` taking the same arguments (templates_app's own, which activates nothing)."""
    from lifecycle.releases.services import create_template_live_in_development
    from templates_app.api.serializers import DefinitionInput

    payload: dict[str, Any] = TemplatePayloadFactory(**overrides)
    return (service or create_template_live_in_development)(
        actor=actor,
        name=payload["name"],
        description=payload["description"],
        category=payload["category"],
        tags=payload["tags"],
        metadata=payload["metadata"],
        definition=DefinitionInput.fields_of(payload),
    )
