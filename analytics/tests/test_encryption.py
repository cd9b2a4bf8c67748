"""Executions' inputs and outputs encrypted at rest (DATA_ENCRYPTION_KEYS), key rotation, `manage.py reencrypt`."""

from __future__ import annotations

import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from analytics.models import Execution
from lifecycle.core.db.encrypted import UnreadableValue
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db

SECRET_INPUT = {"inquiry": "My card number is 4111 1111 1111 1111"}
SECRET_OUTPUT = "Dear Jane Doe of 12 Elm Street, ..."


@pytest.fixture(autouse=True)
def no_keys(settings):
    """The embedded default, whatever the environment running the tests sets: no keys."""
    settings.DATA_ENCRYPTION_KEYS = []
    settings.TEMPLATE_CONTENT_ENCRYPTION = False


def new_key() -> str:
    return Fernet.generate_key().decode()


def raw_payloads() -> list[tuple[str, str]]:
    """The input and output columns as the database holds them, past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT input, output FROM analytics_execution ORDER BY id")
        return list(cursor.fetchall())


def report(api, integration, version, **overrides):
    body = ExecutionReportFactory(version=version, **{"input": SECRET_INPUT, "output": SECRET_OUTPUT, **overrides})
    return api.as_user(integration).post("/api/executions", body)


def reencrypt(*args: str) -> str:
    out = io.StringIO()
    call_command("reencrypt", *args, stdout=out)
    return out.getvalue()


def test_ingest__keys_set__columns_hold_no_plaintext_and_the_api_answers_plaintext(api, integration, version):
    # Given a server with a key
    with override_settings(DATA_ENCRYPTION_KEYS=[new_key()]):
        # When an integration reports an execution, alone and in a batch (the hand-written bulk insert)
        single = report(api, integration, version)
        batch = api.as_user(integration).post(
            "/api/executions/batch",
            {"executions": [ExecutionReportFactory(version=version, input=SECRET_INPUT, output=SECRET_OUTPUT)] * 3},
        )
        # Then the answer shows what was reported
        assert (single.status_code, batch.status_code) == (201, 201), (single.json(), batch.json())
        assert single.json()["input"] == '{"inquiry": "My card number is 4111 1111 1111 1111"}'
        assert single.json()["output"] == SECRET_OUTPUT
        # And the database holds neither the text nor any part of it, in any row
        rows = raw_payloads()
        assert len(rows) == 4
        for stored_input, stored_output in rows:
            assert stored_input.startswith("enc:v1:")
            assert stored_output.startswith("enc:v1:")
            assert "4111" not in stored_input
            assert "Jane" not in stored_output
        # And reading through the model gives the text back
        assert {execution.output for execution in Execution.objects.all()} == {SECRET_OUTPUT}


def test_ingest__no_keys__stored_plain(api, integration, version):
    # The embedded default (no DATA_ENCRYPTION_KEYS): stored as reported, as before encryption existed
    assert report(api, integration, version).status_code == 201
    assert raw_payloads() == [('{"inquiry": "My card number is 4111 1111 1111 1111"}', SECRET_OUTPUT)]


def test_ingest__empty_payloads__stay_empty_not_encrypted(api, integration, version):
    with override_settings(DATA_ENCRYPTION_KEYS=[new_key()]):
        body = ExecutionReportFactory(version=version)
        del body["input"], body["output"]
        assert api.as_user(integration).post("/api/executions", body).status_code == 201
    assert raw_payloads() == [("", "")]


def test_ingest__payload_at_the_length_bound__bounded_before_encryption_and_read_back_whole(api, integration, version):
    # EXECUTION_PAYLOAD_MAX_CHARS bounds the text; the stored token is longer, and the column has no bound
    with override_settings(DATA_ENCRYPTION_KEYS=[new_key()], EXECUTION_PAYLOAD_MAX_CHARS=20):
        response = report(api, integration, version, output="é" * 50)
    assert response.json()["output"] == "é" * 20 + "…[truncated 30 characters]"
    assert len(raw_payloads()[0][1]) > 100


def test_rotation__new_key_first__rows_of_the_old_key_still_read(api, integration, version):
    # Given executions written with key A
    key_a, key_b = new_key(), new_key()
    with override_settings(DATA_ENCRYPTION_KEYS=[key_a]):
        report(api, integration, version)
    # When the operator puts a new key B first, keeping A
    with override_settings(DATA_ENCRYPTION_KEYS=[key_b, key_a]):
        # Then the old rows are read, and new ones are written with B
        assert Execution.objects.get().output == SECRET_OUTPUT
        report(api, integration, version)
    with override_settings(DATA_ENCRYPTION_KEYS=[key_b]):
        assert sorted(Execution.objects.values_list("output", flat=True).order_by("id")[1:]) == [SECRET_OUTPUT]


def test_reencrypt__after_rotation__rows_readable_with_the_new_key_alone(api, integration, version):
    # Given executions written with key A, then the keys [B, A]
    key_a, key_b = new_key(), new_key()
    with override_settings(DATA_ENCRYPTION_KEYS=[key_a]):
        for _ in range(3):
            report(api, integration, version)
    before = raw_payloads()
    with override_settings(DATA_ENCRYPTION_KEYS=[key_b, key_a]):
        # When the command re-encrypts, in batches smaller than the table
        out = reencrypt("--batch-size", "2")
        # Then every value was re-encrypted: 3 inputs and 3 outputs
        assert "analytics.Execution.input (encrypted): 3 changed (3 re-encrypted)" in out
        assert "analytics.Execution.output (encrypted): 3 changed (3 re-encrypted)" in out
        # And a second run changes nothing
        assert "changed 0 values in all" in reencrypt()
    after = raw_payloads()
    assert all(old != new for old, new in zip(before, after, strict=True))
    # And key A can go: B alone reads every row
    with override_settings(DATA_ENCRYPTION_KEYS=[key_b]):
        assert [execution.output for execution in Execution.objects.all()] == [SECRET_OUTPUT] * 3


def test_reencrypt__plain_legacy_rows__read_as_they_are_then_encrypted(api, integration, version):
    # Given executions stored before any key was set
    report(api, integration, version)
    report(api, integration, version, output="")
    key = new_key()
    with override_settings(DATA_ENCRYPTION_KEYS=[key]):
        # Then, once a key is set, they are still read
        assert set(Execution.objects.values_list("output", flat=True)) == {SECRET_OUTPUT, ""}
        # When the command runs
        out = reencrypt()
        # Then the plain values are encrypted (the empty output stays empty) and still read
        assert "analytics.Execution.input (encrypted): 2 changed (2 encrypted)" in out
        assert "analytics.Execution.output (encrypted): 1 changed (1 encrypted)" in out
        assert set(Execution.objects.values_list("output", flat=True)) == {SECRET_OUTPUT, ""}
    assert sorted(output[:7] for _, output in raw_payloads()) == ["", "enc:v1:"]


def test_reencrypt__dry_run__counts_and_changes_nothing(api, integration, version):
    report(api, integration, version)
    before = raw_payloads()
    with override_settings(DATA_ENCRYPTION_KEYS=[new_key()]):
        out = reencrypt("--dry-run")
    assert "analytics.Execution.output (encrypted): would change 1 (1 encrypted)" in out
    assert raw_payloads() == before


def test_reencrypt__empty_database__prints_zero_and_succeeds(db):
    with override_settings(DATA_ENCRYPTION_KEYS=[new_key()]):
        out = reencrypt()
    assert out.strip().splitlines()[-1] == "changed 0 values in all"


def test_reencrypt__a_key_missing__fails_naming_the_rows_and_changes_nothing_of_them(api, integration, version):
    # Given rows written with a key that is no longer configured
    with override_settings(DATA_ENCRYPTION_KEYS=[new_key()]):
        report(api, integration, version)
    before = raw_payloads()
    # When the command runs, it says which values no key reads, and fails
    with (
        override_settings(DATA_ENCRYPTION_KEYS=[new_key()]),
        pytest.raises(CommandError, match=r"could not be decrypted with any key.*analytics\.Execution\.input"),
    ):
        reencrypt()
    # And those rows are left as they were (the right key can still read them)
    assert raw_payloads() == before


def test_read__key_missing__clear_error_logged_without_the_value(api, integration, version, caplog):
    with override_settings(DATA_ENCRYPTION_KEYS=[new_key()]):
        report(api, integration, version)
    with (
        override_settings(DATA_ENCRYPTION_KEYS=[new_key()]),
        caplog.at_level(logging.ERROR),
        pytest.raises(UnreadableValue),
    ):
        Execution.objects.get()
    assert "analytics.Execution.input could not be decrypted with any of the 1 keys" in caplog.text
    assert "4111" not in caplog.text
    # And without any key at all, the same
    with pytest.raises(UnreadableValue):
        Execution.objects.get()


def test_filter__on_an_encrypted_column__refused_rather_than_answered_wrongly(db):
    with override_settings(DATA_ENCRYPTION_KEYS=[new_key()]):
        with pytest.raises(FieldError, match="encrypted at rest"):
            list(Execution.objects.filter(output__icontains="Jane"))
        assert not Execution.objects.filter(output__isnull=True).exists()


@pytest.mark.parametrize("encrypted", [False, True])
def test_ingest__text_that_looks_encrypted__stored_and_read_back_as_sent(api, integration, version, encrypted):
    # Anyone may send text beginning like an encrypted value: it is never taken for one
    looks_encrypted = "enc:v1:gAAAAAnot-a-token"
    key = new_key()
    with override_settings(DATA_ENCRYPTION_KEYS=[key] if encrypted else []):
        response = report(api, integration, version, output=looks_encrypted)
        assert response.status_code == 201, response.json()
        assert response.json()["output"] == looks_encrypted
        assert Execution.objects.get().output == looks_encrypted
    # And the command, once a key is set, encrypts it as the text it is
    with override_settings(DATA_ENCRYPTION_KEYS=[key]):
        reencrypt()
        assert Execution.objects.get().output == looks_encrypted
    assert raw_payloads()[0][1].startswith("enc:v1:")
    assert raw_payloads()[0][1] != looks_encrypted
