"""Templates' text encrypted at rest (TEMPLATE_CONTENT_ENCRYPTION with DATA_ENCRYPTION_KEYS): versions, chat
messages, a composed prompt's source and the history tables hold no plaintext; render, the API, diffs and the
admin answer as before; a key missing is a clear error, never a wrong prompt."""

from __future__ import annotations

import io
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.api import create_template_over_api
from templates_app import selectors as template_selectors

pytestmark = pytest.mark.django_db

SECRET_TEXT = "Internal: never mention the Falcon merger. Answer: {{inquiry}}"
CHAT = [{"role": "system", "content": "Project Falcon is confidential."}, {"role": "user", "content": "{{inquiry}}"}]
INQUIRY = [{"name": "inquiry", "type": "string", "required": True}]


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def encrypted(key):
    """The server with its templates' text encrypted."""
    with override_settings(DATA_ENCRYPTION_KEYS=[key], TEMPLATE_CONTENT_ENCRYPTION=True):
        yield key


@pytest.fixture(autouse=True)
def no_keys(settings):
    """The embedded default, whatever the environment running the tests sets: no keys, text stored plain."""
    settings.DATA_ENCRYPTION_KEYS = []
    settings.TEMPLATE_CONTENT_ENCRYPTION = False


@pytest.fixture(autouse=True)
def no_compiled_versions():
    # Compiled versions are kept per process for good; these tests change keys under them.
    template_selectors._plans.clear()
    yield
    template_selectors._plans.clear()


def raw_columns(table: str, version_id: str) -> list[tuple[str | None, str | None, str | None]]:
    """A version's content, messages and source columns as the database holds them (every row: history too)."""
    key = version_id.replace("-", "") if connection.vendor == "sqlite" else version_id
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT content, messages, source FROM {table} WHERE id = %s", [key])
        return [tuple(None if value is None else str(value) for value in row) for row in cursor.fetchall()]


def assert_no_plaintext(version_id: str) -> None:
    for table in ("templates_app_templateversion", "templates_app_historicaltemplateversion"):
        rows = raw_columns(table, version_id)
        assert rows, table
        for row in rows:
            assert "Falcon" not in json.dumps(row), (table, row)
            assert any(value and "enc:v1:" in value for value in row), (table, row)


def render(api, user, template_id, environment="development"):
    return api.as_user(user).post(
        f"/api/templates/{template_id}/render", {"environment": environment, "variables": {"inquiry": "Hi"}}
    )


def test_text_version__encrypted__no_plaintext_at_rest_and_render_unchanged(api, author, reader, encrypted):
    # When an author creates a template with the setting on
    created = create_template_over_api(api, author, name="falcon", content=SECRET_TEXT, variables=INQUIRY)
    version_id = created["latestVersion"]["id"]
    # Then neither the version's row nor its history row holds the text
    assert_no_plaintext(version_id)
    # And render, and reading the version, answer the text
    response = render(api, reader, created["id"])
    assert response.status_code == 200, response.json()
    assert response.json()["rendered"] == "Internal: never mention the Falcon merger. Answer: Hi"
    assert api.as_user(reader).get(f"/api/versions/{version_id}").json()["content"] == SECRET_TEXT


def test_chat_version__encrypted__messages_at_rest_are_a_token_and_render_unchanged(api, author, reader, encrypted):
    created = create_template_over_api(api, author, name="falcon-chat", content=None, messages=CHAT, variables=INQUIRY)
    assert_no_plaintext(created["latestVersion"]["id"])
    assert render(api, reader, created["id"]).json()["messages"] == [
        {"role": "system", "content": "Project Falcon is confidential."},
        {"role": "user", "content": "Hi"},
    ]


def test_composed_version__encrypted__source_too_and_render_unchanged(api, author, reader, encrypted):
    # A part, and a prompt that includes it (pinned): the author's text is kept as `source`
    create_template_over_api(api, author, name="falcon-part", content="Falcon rules apply.", variables=[])
    created = create_template_over_api(
        api, author, name="falcon-prompt", content="{{> falcon-part@1.0.0}} {{inquiry}}", variables=INQUIRY
    )
    version_id = created["latestVersion"]["id"]
    ((content, messages, source),) = raw_columns("templates_app_templateversion", version_id)
    assert messages is None  # NULL stays NULL: the version is text, not chat
    assert content.startswith("enc:v1:")
    assert json.loads(source).startswith("enc:v1:")
    assert render(api, reader, created["id"]).json()["rendered"] == "Falcon rules apply. Hi"


def test_diff__encrypted_versions__diffed_as_plain_ones(api, author, reader, encrypted):
    created = create_template_over_api(api, author, name="falcon", content=SECRET_TEXT, variables=INQUIRY)
    second = create_version(
        actor=author,
        template_id=created["id"],
        definition={"content": SECRET_TEXT.replace("never", "do not"), "variables": INQUIRY},
    )
    diff = api.as_user(reader).get(f"/api/versions/{second.pk}/diff").json()
    assert "never" in json.dumps(diff)
    assert "do not" in json.dumps(diff)


def test_setting_off__keys_set__templates_plain_and_executions_still_encrypted(api, author, key):
    with override_settings(DATA_ENCRYPTION_KEYS=[key], TEMPLATE_CONTENT_ENCRYPTION=False):
        created = create_template_over_api(api, author, name="falcon", content=SECRET_TEXT, variables=INQUIRY)
    ((content, _, _),) = raw_columns("templates_app_templateversion", created["latestVersion"]["id"])
    assert content == SECRET_TEXT


def test_render__key_of_the_version_missing__clear_500_without_traceback_and_logged(api, author, reader, caplog):
    # Given a version written with a key the server no longer has
    with override_settings(DATA_ENCRYPTION_KEYS=[Fernet.generate_key().decode()], TEMPLATE_CONTENT_ENCRYPTION=True):
        created = create_template_over_api(api, author, name="falcon", content=SECRET_TEXT, variables=INQUIRY)
    other_key = Fernet.generate_key().decode()
    # When it is rendered
    with (
        override_settings(DATA_ENCRYPTION_KEYS=[other_key], TEMPLATE_CONTENT_ENCRYPTION=True),
        caplog.at_level(logging.ERROR),
    ):
        response = render(api, reader, created["id"])
    # Then the caller gets the error's JSON shape naming the cause, never another text or a traceback
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "stored_data_unreadable"
    assert "Traceback" not in response.content.decode()
    # And the operator's log names the column
    assert "templates_app.TemplateVersion.content could not be decrypted" in caplog.text


def test_reencrypt__setting_turned_on_then_off__content_encrypted_then_plain_again(api, author, reader, key):
    # Given versions written before the setting was on
    created = create_template_over_api(api, author, name="falcon", content=SECRET_TEXT, variables=INQUIRY)
    version_id = created["latestVersion"]["id"]
    with override_settings(DATA_ENCRYPTION_KEYS=[key], TEMPLATE_CONTENT_ENCRYPTION=True):
        # When the setting is turned on and the command runs, the text is encrypted, history included
        out = io.StringIO()
        call_command("reencrypt", stdout=out)
        assert "templates_app.HistoricalTemplateVersion.content (encrypted): 1 changed (1 encrypted)" in out.getvalue()
        assert_no_plaintext(version_id)
        assert render(api, reader, created["id"]).json()["rendered"].endswith("Answer: Hi")
    with override_settings(DATA_ENCRYPTION_KEYS=[key], TEMPLATE_CONTENT_ENCRYPTION=False):
        # And turned off again, the command stores it plain again (so that the keys could go)
        out = io.StringIO()
        call_command("reencrypt", stdout=out)
        assert "templates_app.TemplateVersion.content (plain): 1 changed (1 decrypted)" in out.getvalue()
    assert raw_columns("templates_app_templateversion", version_id) == [(SECRET_TEXT, None, None)]


def test_admin_version_search__encrypted__by_name_still_works(make_user, api, author, encrypted):
    # The database cannot search encrypted text: the admin's search leaves the text out rather than fail
    create_template_over_api(api, author, name="falcon", content=SECRET_TEXT, variables=INQUIRY)
    client = Client()
    client.force_login(make_user(superuser=True))
    by_name = client.get("/admin/templates_app/templateversion/", {"q": "falcon"})
    assert by_name.status_code == 200
    assert by_name.context["cl"].result_count == 1


def test_text_that_looks_encrypted__setting_off__rendered_as_written(api, author, reader, key):
    # An author's text may begin like an encrypted value; stored plain, it is still that text
    content = "enc:v1:{{inquiry}}"
    with override_settings(DATA_ENCRYPTION_KEYS=[key], TEMPLATE_CONTENT_ENCRYPTION=False):
        created = create_template_over_api(api, author, name="odd", content=content, variables=INQUIRY)
        assert render(api, reader, created["id"]).json()["rendered"] == "enc:v1:Hi"
        messages = [{"role": "user", "content": "enc:v1:{{inquiry}}"}]
        chat = create_template_over_api(
            api, author, name="odd-chat", content=None, messages=messages, variables=INQUIRY
        )
        assert render(api, reader, chat["id"]).json()["messages"] == [{"role": "user", "content": "enc:v1:Hi"}]


def test_reencrypt__chat_and_composed_versions_after_rotation__rendered_with_the_new_key_alone(api, author, reader):
    # Given a chat prompt and a composed prompt written with key A
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(DATA_ENCRYPTION_KEYS=[key_a], TEMPLATE_CONTENT_ENCRYPTION=True):
        chat = create_template_over_api(api, author, name="falcon-chat", content=None, messages=CHAT, variables=INQUIRY)
        create_template_over_api(api, author, name="falcon-part", content="Falcon rules apply.", variables=[])
        composed = create_template_over_api(
            api, author, name="falcon-prompt", content="{{> falcon-part@1.0.0}} {{inquiry}}", variables=INQUIRY
        )
    before = raw_columns("templates_app_templateversion", chat["latestVersion"]["id"])
    # When B is put first and the command runs
    with override_settings(DATA_ENCRYPTION_KEYS=[key_b, key_a], TEMPLATE_CONTENT_ENCRYPTION=True):
        out = io.StringIO()
        call_command("reencrypt", stdout=out)
    assert "templates_app.TemplateVersion.messages (encrypted): 1 changed (1 re-encrypted)" in out.getvalue()
    assert "templates_app.TemplateVersion.source (encrypted): 1 changed (1 re-encrypted)" in out.getvalue()
    assert raw_columns("templates_app_templateversion", chat["latestVersion"]["id"]) != before
    assert_no_plaintext(chat["latestVersion"]["id"])
    # Then B alone renders both
    with override_settings(DATA_ENCRYPTION_KEYS=[key_b], TEMPLATE_CONTENT_ENCRYPTION=True):
        assert render(api, reader, chat["id"]).json()["messages"][0]["content"] == "Project Falcon is confidential."
        assert render(api, reader, composed["id"]).json()["rendered"] == "Falcon rules apply. Hi"
        version = api.as_user(reader).get(f"/api/versions/{composed['latestVersion']['id']}").json()
        assert version["content"] == "Falcon rules apply. {{inquiry}}"
