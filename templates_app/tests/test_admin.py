"""The admin: the same rules as the API, because it calls the same services."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from lifecycle.releases.models import Deployment
from templates_app.models import PromptTemplate, TemplateVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user):
    user = make_user(superuser=True, username="root")
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def add_template(client, **fields):
    data = {
        "name": "Admin made",
        "description": "From the admin",
        "category": "generation",
        "tags": "support",
        "metadata": "{}",
        "content": "Hello {{who}}",
        "messages": "",
        "variables": json.dumps([{"name": "who", "type": "string"}]),
        "model_config": "{}",
        "provider": "claude",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }
    data.update(fields)
    return client.post("/admin/templates_app/prompttemplate/add/", data)


def test_admin_add_template__valid__created_with_first_version_active_in_development(admin_client):
    response = add_template(admin_client)
    assert response.status_code == 302, response.content.decode()[:2000]
    template = PromptTemplate.objects.get(name="Admin made")
    assert template.latest_version.number == "1.0.0"
    assert template.latest_version.content == "Hello {{who}}"
    assert [t.name for t in template.tags.all()] == ["support"]
    assert Deployment.objects.get(template=template, state="active").environment == "development"
    assert template.history.first().history_user == admin_client.user


def test_admin_add_template__undeclared_placeholder__form_error_and_nothing_saved(admin_client):
    response = add_template(admin_client, content="Hello {{who}} and {{whom}}")
    assert response.status_code == 200
    assert "{{whom}} is not a declared variable" in response.content.decode()
    assert not PromptTemplate.objects.exists()


def test_admin_add_template__duplicate_name__form_error(admin_client, create_template):
    create_template(name="Taken")
    response = add_template(admin_client, name="taken")
    assert response.status_code == 200
    assert PromptTemplate.objects.filter(name__iexact="taken").count() == 1


def test_admin_change_template__description_and_tags__saved_through_service_with_history(admin_client, create_template):
    template = create_template()
    response = admin_client.post(
        f"/admin/templates_app/prompttemplate/{template.pk}/change/",
        {
            "name": template.name,
            "description": "Edited in the admin",
            "category": "analysis",
            "tags": "billing, new-tag",
            "metadata": json.dumps(template.metadata),
            "maintainers": [str(template.created_by_id)],
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1",
            "versions-0-id": str(template.latest_version_id),
            "versions-0-template": str(template.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    template.refresh_from_db()
    assert template.description == "Edited in the admin"
    assert template.category == "analysis"
    assert sorted(t.name for t in template.tags.all()) == ["billing", "new-tag"]
    latest = template.history.first()
    assert latest.history_type == "~"
    assert latest.history_user == admin_client.user


def test_admin_add_version__computes_number_through_service(admin_client, create_template):
    template = create_template()
    response = admin_client.post(
        "/admin/templates_app/templateversion/add/",
        {
            "template": str(template.pk),
            "content": "Admin edit: {{inquiry}}",
            "messages": "",
            "variables": "",
            "model_config": "",
            "provider": "",
            "changelog": "wording",
            "bump": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    version = TemplateVersion.objects.get(template=template, content="Admin edit: {{inquiry}}")
    assert version.number == "1.0.1"
    assert version.metadata == {"changelog": "wording"}
    assert version.created_by == admin_client.user


def test_admin_add_version__identical__form_error_and_nothing_saved(admin_client, create_template):
    template = create_template()
    response = admin_client.post(
        "/admin/templates_app/templateversion/add/",
        {
            "template": str(template.pk),
            "content": template.latest_version.content,
            "messages": "",
            "variables": "",
            "model_config": "",
            "provider": "",
            "changelog": "",
            "bump": "",
        },
    )
    assert response.status_code == 200
    assert "identical to the latest version" in response.content.decode()
    assert TemplateVersion.objects.filter(template=template).count() == 1


def test_admin_version_page__read_only_with_diff_and_no_delete(admin_client, create_template):
    template = create_template()
    version = template.latest_version
    page = admin_client.get(f"/admin/templates_app/templateversion/{version.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Please respond to the customer inquiry" in html
    assert 'name="content"' not in html  # shown, not editable
    response = admin_client.post(f"/admin/templates_app/templateversion/{version.pk}/change/", {"content": "x"})
    assert response.status_code == 403
    assert admin_client.get(f"/admin/templates_app/templateversion/{version.pk}/delete/").status_code == 403
    version.refresh_from_db()
    assert version.content.startswith("Please respond")


def test_admin_lists__search_and_filters(admin_client, create_template):
    create_template(name="Ticket triage", category="classification")
    create_template(name="Release notes", category="generation")
    listing = admin_client.get("/admin/templates_app/prompttemplate/?q=triage").content.decode()
    assert "Ticket triage" in listing
    assert "Release notes" not in listing
    listing = admin_client.get("/admin/templates_app/prompttemplate/?category__exact=generation").content.decode()
    assert "Release notes" in listing
    assert "Ticket triage" not in listing
    assert admin_client.get("/admin/templates_app/templateversion/?q=triage").status_code == 200
    assert admin_client.get("/admin/releases/deployment/").status_code == 200


def test_admin_history_pages__show_who_changed_what(admin_client, create_template):
    template = create_template()
    page = admin_client.get(f"/admin/templates_app/prompttemplate/{template.pk}/history/")
    assert page.status_code == 200
    assert template.created_by.username in page.content.decode()


def test_admin_staff_without_author_role__cannot_create(make_user):
    staff = make_user()
    staff.is_staff = True
    staff.save()
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(*Permission.objects.filter(codename__in=["add_prompttemplate", "view_prompttemplate"]))
    client = Client()
    client.force_login(staff)
    response = add_template(client)
    assert not PromptTemplate.objects.exists()
    assert response.status_code == 302
    assert response["Location"] == "/admin/templates_app/prompttemplate/add/"
    page = client.get(response["Location"]).content.decode()
    assert "you need the &#x27;author&#x27; role" in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_config", '{"foo": NaN}'),
        ("metadata", '{"x": 1e400}'),
        ("variables", '[{"name": "who", "description": "\\u0000"}]'),
    ],
)
def test_admin_add_template__json_the_api_refuses__form_error_not_500(admin_client, field, value):
    response = add_template(admin_client, **{field: value})
    assert response.status_code == 200
    assert "Enter a valid JSON" in response.content.decode()
    assert not PromptTemplate.objects.exists()


def test_admin_change_template__shows_its_tags_as_text(admin_client, create_template):
    template = create_template(tags=["support", "billing"])
    page = admin_client.get(f"/admin/templates_app/prompttemplate/{template.pk}/change/").content.decode()
    assert 'value="support, billing"' in page or 'value="billing, support"' in page


def test_admin_add_template__name_taken_in_another_case__form_error(admin_client, create_template):
    create_template(name="École")
    response = add_template(admin_client, name="école")
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert PromptTemplate.objects.count() == 1


def test_admin_history_form__post_refused_and_nothing_changed(admin_client, create_template, author):
    from lifecycle.releases.services import create_version_live_in_development as create_version

    template = create_template()
    first_deployment = Deployment.objects.get(template=template)
    create_version(actor=author, template_id=template.pk, definition={"content": "Next {{inquiry}}"})
    first_deployment.refresh_from_db()
    assert first_deployment.state == "superseded"
    record = first_deployment.history.order_by("history_date").first()  # when it was active
    url = f"/admin/releases/deployment/{first_deployment.pk}/history/{record.history_id}/"
    assert admin_client.get(url).status_code == 200  # to look at
    assert admin_client.post(url, {}).status_code == 403  # not to restore
    first_deployment.refresh_from_db()
    assert first_deployment.state == "superseded"
    version = template.latest_version
    version_record = version.history.first()
    response = admin_client.post(
        f"/admin/templates_app/templateversion/{version.pk}/history/{version_record.history_id}/", {}
    )
    assert response.status_code == 403


def test_admin_tags__read_only(admin_client, create_template):
    create_template(tags=["support"])
    assert admin_client.get("/admin/templates_app/tag/").status_code == 200
    assert admin_client.get("/admin/templates_app/tag/add/").status_code == 403


def test_admin_template_page__links_its_deployments_by_environment(admin_client, create_template):
    template = create_template(name="Linked")
    create_template(name="Other")
    page = admin_client.get(f"/admin/templates_app/prompttemplate/{template.pk}/change/").content.decode()
    link = f"/admin/releases/deployment/?template__id__exact={template.pk}"
    assert link in page
    listing = admin_client.get(link)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "Linked" in html
    assert "Other" not in html


def _author_client(make_user):
    user = make_user("author")
    user.is_staff = True  # as create_api_token makes authors
    user.save()
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_admin_change_template__author_who_does_not_maintain_it__read_only_and_post_refused(make_user, create_template):
    # Given an author who does not maintain the template
    template = create_template(description="before")
    client = _author_client(make_user)
    url = f"/admin/templates_app/prompttemplate/{template.pk}/change/"
    # When they open its page, then post a change
    page = client.get(url)
    response = client.post(
        url,
        {
            "name": template.name,
            "description": "after",
            "category": "other",
            "tags": "",
            "metadata": "{}",
            "maintainers": [str(client.user.pk)],
        },
    )
    # Then the page is read-only (no save button), the post is refused, and nothing changed
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert response.status_code == 403
    template.refresh_from_db()
    assert template.description == "before"
    assert not template.maintainers.filter(pk=client.user.pk).exists()


def test_admin_change_template__maintaining_author__edits_it_and_its_maintainers(make_user, create_template, author):
    # Given an author in a group that maintains the template
    template = create_template(description="before")
    client = _author_client(make_user)
    team = Group.objects.create(name="prompt-team")
    client.user.groups.add(team)
    template.maintainer_groups.add(team)
    # When they change its description and make a colleague a maintainer
    colleague = make_user("author")
    response = client.post(
        f"/admin/templates_app/prompttemplate/{template.pk}/change/",
        {
            "name": template.name,
            "description": "after",
            "category": "other",
            "tags": "",
            "metadata": "{}",
            "maintainers": [str(author.pk), str(colleague.pk)],
            "maintainer_groups": [str(team.pk)],
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    # Then both are saved
    assert response.status_code == 302, response.content.decode()[:2000]
    template.refresh_from_db()
    assert template.description == "after"
    assert sorted(user.pk for user in template.maintainers.all()) == sorted([author.pk, colleague.pk])


def test_admin_add_version__offers_only_the_templates_the_author_may_change(make_user, create_template):
    # Given a template the author maintains and one they do not
    client = _author_client(make_user)
    mine = create_template(actor=client.user)
    theirs = create_template()
    # When they open the add-version form, then post a version of the other template
    form = client.get("/admin/templates_app/templateversion/add/").content.decode()
    response = client.post(
        "/admin/templates_app/templateversion/add/",
        {"template": str(theirs.pk), "content": "Mine now {{inquiry}}", "changelog": "", "bump": ""},
    )
    # Then only their own template is offered, and the other one's version is not created
    assert str(mine.pk) in form
    assert str(theirs.pk) not in form
    assert response.status_code == 200  # the form again, with "select a valid choice"
    assert not TemplateVersion.objects.filter(template=theirs, content="Mine now {{inquiry}}").exists()


# The authoring pages (issue 11): the next version starts from the latest one, pages read as tables, and
# nothing on them leads an author to a page they may not open.

_NULL_IN_A_TEXTAREA = re.compile(r">\s*null\s*</textarea>")


def _next_version(template, **definition):
    """The template's next version, by its creator, as the API makes it (active in development)."""
    from lifecycle.releases.services import create_version_live_in_development

    return create_version_live_in_development(actor=template.created_by, template_id=template.pk, definition=definition)


def _textarea(html: str, name: str) -> str:
    found = re.search(rf'<textarea name="{name}"[^>]*>\n?(.*?)</textarea>', html, re.S)
    assert found, f"no textarea {name}"
    return unescape(found.group(1))


def test_admin_template_page__maintaining_author__links_the_next_version_starting_from_the_latest(
    make_user, create_template
):
    # Given an author's template whose latest version has text, a variable with rules and model settings
    client = _author_client(make_user)
    template = create_template(actor=client.user)
    latest = template.latest_version
    # When they follow "Add the next version" from the template's page
    page = client.get(f"/admin/templates_app/prompttemplate/{template.pk}/change/").content.decode()
    link = re.search(r'<a href="([^"]+)" id="add-next-version"', page)
    assert link, "no 'Add the next version' link"
    form = client.get(unescape(link.group(1))).content.decode()
    # Then the form is the latest version's: its template chosen, its text, and its JSON indented
    assert unescape(link.group(1)) == f"/admin/templates_app/templateversion/add/?template={template.pk}"
    assert f'<option value="{template.pk}" selected>' in form
    assert _textarea(form, "content") == latest.content
    assert json.loads(_textarea(form, "variables")) == latest.variables
    assert _textarea(form, "variables") == json.dumps(latest.variables, indent=2, ensure_ascii=False)
    assert json.loads(_textarea(form, "model_config")) == latest.model_config
    assert _textarea(form, "messages") == ""  # a text prompt: no chat messages, and no `null`
    assert 'name="provider" value="claude"' in form


def test_admin_add_version__prefilled_form_sent_with_new_text__keeps_variables_and_model_config(
    make_user, create_template
):
    # Given the add-version form as the template's page opens it
    client = _author_client(make_user)
    template = create_template(actor=client.user)
    latest = template.latest_version
    form = client.get(f"/admin/templates_app/templateversion/add/?template={template.pk}").content.decode()
    # When the author changes only the text and saves
    response = client.post(
        f"/admin/templates_app/templateversion/add/?template={template.pk}",
        {
            "template": str(template.pk),
            "content": "Kinder now: {{inquiry}}",
            "messages": _textarea(form, "messages"),
            "variables": _textarea(form, "variables"),
            "model_config": _textarea(form, "model_config"),
            "provider": "claude",
            "changelog": "kinder",
            "bump": "",
            "_save": "Save",
        },
    )
    # Then a patch version keeps the latest one's variables and model settings, and its page opens
    version = TemplateVersion.objects.get(template=template, content="Kinder now: {{inquiry}}")
    assert version.number == "1.0.1"
    assert version.variables == latest.variables
    assert version.model_config == latest.model_config
    assert response.status_code == 302
    assert response["Location"] == f"/admin/templates_app/templateversion/{version.pk}/change/"


def test_admin_add_version__chat_template__prefilled_with_its_messages(make_user, create_template):
    # Given a chat template
    client = _author_client(make_user)
    messages = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "{{inquiry}}"}]
    template = create_template(actor=client.user, content=None, messages=messages)
    # When the author opens the next version's form from it
    form = client.get(f"/admin/templates_app/templateversion/add/?template={template.pk}").content.decode()
    # Then the messages are there to edit, and the text is empty
    assert json.loads(_textarea(form, "messages")) == messages
    assert _textarea(form, "content") == ""


def test_admin_add_version__template_the_author_may_not_change__not_prefilled(make_user, create_template):
    # Given another author's template
    client = _author_client(make_user)
    create_template(actor=client.user)
    theirs = create_template(content="Their secret wording {{inquiry}}")
    # When the author opens the add-version form naming it
    form = client.get(f"/admin/templates_app/templateversion/add/?template={theirs.pk}").content.decode()
    # Then nothing of it is filled in
    assert "Their secret wording" not in form
    assert _textarea(form, "content") == ""


@pytest.mark.parametrize(
    "path", ["/admin/templates_app/prompttemplate/add/", "/admin/templates_app/templateversion/add/"]
)
def test_admin_add_forms__empty_json_fields__blank_never_a_literal_null(admin_client, create_template, path):
    # Given a template to add versions to
    create_template()
    # When an add form opens with nothing to start from
    form = admin_client.get(path).content.decode()
    # Then its JSON fields are blank or hold JSON, never the word null
    assert form.count("<textarea") >= 3
    assert not _NULL_IN_A_TEXTAREA.search(form)


def test_admin_add_version__blank_json_after_prefill__keeps_the_latest(admin_client, create_template):
    # Given a template with model settings
    template = create_template()
    # When the next version is sent with its JSON fields emptied
    admin_client.post(
        "/admin/templates_app/templateversion/add/",
        {"template": str(template.pk), "content": "Blank {{inquiry}}", "variables": "", "model_config": ""},
    )
    # Then they are the latest version's, as the help text says
    version = TemplateVersion.objects.get(template=template, content="Blank {{inquiry}}")
    assert version.variables == template.latest_version.variables
    assert version.model_config == template.latest_version.model_config


def test_admin_add_template__saved__opens_the_new_templates_page(admin_client):
    # Given the add-template form filled in
    # When it is saved
    response = add_template(admin_client, _save="Save")
    # Then the new template's page opens (where its next version is added)
    template = PromptTemplate.objects.get(name="Admin made")
    assert response["Location"] == f"/admin/templates_app/prompttemplate/{template.pk}/change/"


def test_admin_version_page__variables_settings_and_changes__tables_not_raw_json(admin_client, create_template):
    # Given a version that added a variable with rules and changed the temperature
    template = create_template()
    version = _next_version(
        template,
        content="Hi {{inquiry}} in {{lang}}",
        variables=[
            *template.latest_version.variables,
            {"name": "lang", "type": "string", "required": False, "default": "en", "enum": ["en", "fr"]},
        ],
        modelConfig={"model": "claude-sonnet", "temperature": 0.7},
    )
    # When its page is opened
    html = admin_client.get(f"/admin/templates_app/templateversion/{version.pk}/change/").content.decode()
    # Then variables, model settings and the changes are table rows, with no JSON dumped on the page
    lang = '<td><code>lang</code></td><td>string</td><td>optional</td><td>en</td><td>enum: ["en", "fr"]</td>'
    assert lang in unescape(html)
    assert "<td><code>temperature</code></td><td>0.7</td>" in html
    assert '<span class="level level-minor">minor</span>' in html
    assert "<pre>[" not in html
    assert "<pre>{" not in html
    assert '"name": "lang"' not in unescape(html)


def test_admin_version_page__ids_and_fingerprint__in_collapsed_technical_details_at_the_bottom(
    admin_client, create_template
):
    # Given a version
    version = create_template().latest_version
    # When its page is opened
    html = admin_client.get(f"/admin/templates_app/templateversion/{version.pk}/change/").content.decode()
    # Then the id and fingerprint come last, in a collapsed section after the prompt and the diff
    technical = html.index("Technical details")
    assert html.index("Changes from the version before") < technical
    assert html.index(version.fingerprint) > technical
    assert html.index(str(version.pk), html.index('<div class="form-row field-id')) > technical
    assert re.search(r'<fieldset class="module aligned collapse"[^>]*>\s*<details', html[technical - 400 :])


def test_admin_template_page__id_in_collapsed_technical_details_creator_as_text(make_user, create_template):
    # Given an author's template
    client = _author_client(make_user)
    template = create_template(actor=client.user)
    # When they open its page
    html = client.get(f"/admin/templates_app/prompttemplate/{template.pk}/change/").content.decode()
    # Then the id sits in the collapsed technical details, and the creator is a name, not a user-admin link
    assert html.index("Technical details") < html.index('<div class="form-row field-id')
    assert "/admin/auth/user/" not in html
    assert f'<div class="readonly">{client.user.username}</div>' in html


def test_admin_version_history__author__names_without_links_to_the_user_admin(make_user, create_template):
    # Given an author and a version's history page (simple-history links names to the user admin)
    client = _author_client(make_user)
    version = create_template(actor=client.user).latest_version
    # When they open it
    html = client.get(f"/admin/templates_app/templateversion/{version.pk}/history/").content.decode()
    # Then the name is there as text
    assert client.user.username in html
    assert "/admin/auth/user/" not in html


def test_admin_template_snapshot__earlier_change__values_as_they_were_then(admin_client, create_template, author):
    # Given a template created with tag "support", then a version 1.0.1, then its tags changed
    from lifecycle.releases.services import create_version_live_in_development
    from templates_app.services import update_template

    template = create_template(tags=["support"], description="first words")
    create_version_live_in_development(actor=author, template_id=template.pk, definition={"content": "B {{inquiry}}"})
    update_template(actor=author, template_id=template.pk, tags=["billing"], description="second words")
    created, changed = template.history.order_by("history_id")
    # When the snapshot of its creation is opened, then that of the later change
    then = unescape(
        admin_client.get(
            f"/admin/templates_app/prompttemplate/{template.pk}/history/{created.history_id}/"
        ).content.decode()
    )
    later = unescape(
        admin_client.get(
            f"/admin/templates_app/prompttemplate/{template.pk}/history/{changed.history_id}/"
        ).content.decode()
    )
    # Then each shows the tags, the description and the latest version of its own moment
    assert "first words" in then
    assert "second words" not in then
    assert '<div class="readonly">support</div>' in then
    assert "billing" not in then
    assert "1.0.0</a> (created with the template)" in then
    assert "1.0.1" not in then
    assert "second words" in later
    assert '<div class="readonly">billing</div>' in later
    assert "1.0.1</a>" in later


def test_admin_template_snapshot__post__refused_and_nothing_changed(admin_client, create_template):
    # Given a template's creation record
    template = create_template(description="kept")
    record = template.history.first()
    # When someone posts to its snapshot (simple-history's revert)
    response = admin_client.post(
        f"/admin/templates_app/prompttemplate/{template.pk}/history/{record.history_id}/", {"description": "x"}
    )
    # Then it is refused and the template is as it was
    assert response.status_code == 403
    template.refresh_from_db()
    assert template.description == "kept"
    assert template.history.count() == 1
