"""Composition in the admin (issue 14): a version built from parts shows them and the author's text; the
add form starts from that text and finds unpinned parts where the author says; the template's page shows
updates and who includes it, with one button that makes the refreshed version; a request for a shared part
shows its reach; the diff names the parts that changed version."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client

from approvals import services as approval_services
from lifecycle.releases.services import (
    create_template_live_in_development,
    create_version_live_in_development,
    deploy_version,
)
from lifecycle.testing.admin_forms import person
from lifecycle.testing.workflow import approve_for
from templates_app.models import PromptTemplate, TemplateVersion

pytestmark = pytest.mark.django_db

STYLE = "Answer politely, in {{language}}."
LANGUAGE = {"name": "language", "type": "string", "required": False, "default": "English"}


@pytest.fixture
def alice() -> Client:
    return person("alice", "author")


@pytest.fixture
def composed(alice, reviewers, deployer):
    """`house-style` 1.0.0 in production, and alice's `support-reply` 1.0.0 that includes it unpinned."""
    style = create_template_live_in_development(
        actor=alice.user, name="house-style", definition={"content": STYLE, "variables": [LANGUAGE]}
    )
    approve_for(style.latest_version, "production", reviewers)
    deploy_version(actor=deployer, version_id=style.latest_version.pk, environment="production")
    reply = create_template_live_in_development(
        actor=alice.user,
        name="support-reply",
        definition={"content": "{{> house-style}}\nCustomer: {{inquiry}}", "variables": [{"name": "inquiry"}]},
        include_environment="production",
    )
    return style, reply


def text_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_version_page__composed__flattened_prompt_source_and_parts(alice, composed):
    _, reply = composed
    page = text_of(alice.get(f"/admin/templates_app/templateversion/{reply.latest_version.pk}/change/"))
    assert "Built from parts" in page
    assert "{{> house-style}}\nCustomer: {{inquiry}}" in page  # as written
    assert "Answer politely, in {{language}}.\nCustomer: {{inquiry}}" in page  # what it serves
    assert "house-style 1.0.0" in page
    assert "active in production at creation" in page


def test_add_next_version_form__starts_from_source_text_and_own_variables(alice, composed):
    _, reply = composed
    response = alice.get(f"/admin/templates_app/templateversion/add/?template={reply.pk}")
    form = response.context["adminform"].form
    assert form.initial["content"] == "{{> house-style}}\nCustomer: {{inquiry}}"
    assert [variable["name"] for variable in form.initial["variables"]] == ["inquiry"]
    assert form.initial["include_environment"] == "production"


def test_add_next_version__unpinned_part_resolved_where_author_says(alice, composed):
    style, reply = composed
    create_version_live_in_development(
        actor=alice.user, template_id=style.pk, definition={"content": "Be brief, in {{language}}."}
    )
    response = alice.post(
        "/admin/templates_app/templateversion/add/",
        {
            "template": str(reply.pk),
            "content": "Hello. {{> house-style}} {{inquiry}}",
            "variables": '[{"name": "inquiry"}]',
            "include_environment": "development",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    newest = PromptTemplate.objects.get(pk=reply.pk).latest_version
    assert newest.content == "Hello. Be brief, in {{language}}. {{inquiry}}"


def test_add_next_version__unknown_part__error_on_the_form_nothing_saved(alice, composed):
    _, reply = composed
    response = alice.post(
        "/admin/templates_app/templateversion/add/",
        {"template": str(reply.pk), "content": "{{> nowhere}} {{inquiry}}", "include_environment": "production"},
    )
    assert response.status_code == 200
    assert "there is no template named &#x27;nowhere&#x27;" in response.content.decode()
    assert TemplateVersion.objects.filter(template=reply).count() == 1


def test_template_page__update_available__refresh_button_makes_next_version(alice, composed, reviewers, deployer):
    style, reply = composed
    newer = create_version_live_in_development(
        actor=alice.user, template_id=style.pk, definition={"content": "Be brief, in {{language}}."}
    )
    approve_for(newer, "production", reviewers)
    deploy_version(actor=deployer, version_id=newer.pk, environment="production")
    response = alice.get(f"/admin/templates_app/prompttemplate/{reply.pk}/change/")
    assert "updates available" in text_of(response).lower()
    assert 'id="refresh-parts"' in response.content.decode()
    response = alice.post(f"/admin/templates_app/prompttemplate/{reply.pk}/refresh-parts/")
    refreshed = PromptTemplate.objects.get(pk=reply.pk).latest_version
    assert response.status_code == 302
    assert response.url == f"/admin/templates_app/templateversion/{refreshed.pk}/change/"
    assert refreshed.number == "1.0.1"
    assert refreshed.content == "Be brief, in {{language}}.\nCustomer: {{inquiry}}"
    assert (
        'id="refresh-parts"'
        not in alice.get(f"/admin/templates_app/prompttemplate/{reply.pk}/change/").content.decode()
    )
    # The diff on the new version's page names the part that moved.
    page = text_of(alice.get(f"/admin/templates_app/templateversion/{refreshed.pk}/change/"))
    assert "Parts that changed version" in page
    assert re.search(r"house-style\s+1\.0\.0 → 1\.0\.1", page)


def test_template_page__someone_who_may_not_change_it__no_refresh_button_and_refresh_refused(
    composed, alice, reviewers, deployer
):
    style, reply = composed
    newer = create_version_live_in_development(
        actor=alice.user, template_id=style.pk, definition={"content": "Be brief, in {{language}}."}
    )
    approve_for(newer, "production", reviewers)
    deploy_version(actor=deployer, version_id=newer.pk, environment="production")
    bob = person("bob", "author")
    response = bob.get(f"/admin/templates_app/prompttemplate/{reply.pk}/change/")
    assert "updates available" in text_of(response).lower()
    assert 'id="refresh-parts"' not in response.content.decode()
    bob.post(f"/admin/templates_app/prompttemplate/{reply.pk}/refresh-parts/")
    assert TemplateVersion.objects.filter(template=reply).count() == 1


def test_part_template_page__lists_who_includes_it(alice, composed):
    style, _ = composed
    page = text_of(alice.get(f"/admin/templates_app/prompttemplate/{style.pk}/change/"))
    assert "included by" in page.lower()
    assert re.search(r"development\s+support-reply\s+1\.0\.0\s+1\.0\.0\s+directly", page)


def test_approval_request_of_part__shows_templates_that_include_it(alice, composed):
    style, _ = composed
    newer = create_version_live_in_development(
        actor=alice.user, template_id=style.pk, definition={"content": "Be brief, in {{language}}."}
    )
    request = approval_services.submit_for_approval(actor=alice.user, version_id=newer.pk, environment="production")
    page = text_of(person("tess", "technical").get(f"/admin/approvals/approvalrequest/{request.pk}/change/"))
    assert "Templates that include house-style" in page
    assert re.search(r"newest version\s+support-reply\s+1\.0\.0\s+1\.0\.0", page)
