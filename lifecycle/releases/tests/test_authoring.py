"""A new template or version is active in development at once: composed here, in the layer that may
import both templates_app and releases, in one transaction."""

from __future__ import annotations

import pytest

from lifecycle.releases import services
from lifecycle.releases.models import Deployment
from templates_app import services as template_services
from templates_app.models import PromptTemplate, TemplateVersion

pytestmark = pytest.mark.django_db


def test_create_version_live_in_development__new_version__active_there_and_the_old_one_superseded(
    create_template, author
):
    # Given a template whose 1.0.0 is active in development
    template = create_template()
    first = template.latest_version
    # When its next version is created through the release service
    second = services.create_version_live_in_development(
        actor=author, template_id=template.pk, definition={"content": "Second {{inquiry}}"}
    )
    # Then the new version serves development, and the first one's deployment ended
    states = dict(Deployment.objects.filter(template=template).values_list("version_id", "state"))
    assert states == {first.pk: "superseded", second.pk: "active"}


def test_templates_app_create_version__alone__changes_nothing_that_is_live(create_template, author):
    # Given a template whose 1.0.0 is active in development
    template = create_template()
    # When templates_app's own service makes a version (it cannot know about deployments)
    template_services.create_version(actor=author, template_id=template.pk, definition={"content": "B {{inquiry}}"})
    # Then development still serves 1.0.0: activation is the release layer's, not a hidden reaction
    active = Deployment.objects.get(template=template, state="active")
    assert active.version.number == "1.0.0"


def test_create_version_live_in_development__activation_fails__no_version_created(create_template, author, monkeypatch):
    # Given a template, and an activation that fails (a database error, say)
    template = create_template()
    versions_before = TemplateVersion.objects.filter(template=template).count()

    def broken(*args, **kwargs):
        raise RuntimeError("activation failed")

    monkeypatch.setattr(services, "_activate", broken)
    # When the next version is created
    with pytest.raises(RuntimeError):
        services.create_version_live_in_development(
            actor=author, template_id=template.pk, definition={"content": "Never {{inquiry}}"}
        )
    # Then neither the version nor the template's pointer to it was kept
    assert TemplateVersion.objects.filter(template=template).count() == versions_before
    template.refresh_from_db()
    assert template.latest_version.number == "1.0.0"


def test_create_template_live_in_development__activation_fails__no_template_created(author, monkeypatch):
    # Given an activation that fails
    def broken(*args, **kwargs):
        raise RuntimeError("activation failed")

    monkeypatch.setattr(services, "_activate", broken)
    # When a template is created
    with pytest.raises(RuntimeError):
        services.create_template_live_in_development(
            actor=author, name="Half made", definition={"content": "Hello", "variables": []}
        )
    # Then nothing of it was kept
    assert not PromptTemplate.objects.filter(name="Half made").exists()
    assert not TemplateVersion.objects.exists()
