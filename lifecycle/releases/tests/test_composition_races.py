"""Two refreshes of one prompt's parts at the same moment: one makes the next version, the other is a 409
(nothing left to refresh), never two versions with the same parts. The template's row lock, not hope: run on
PostgreSQL (DATABASE_URL) as well as SQLite."""

from __future__ import annotations

import time
from functools import partial

import pytest

from lifecycle.core.exceptions import Conflict
from lifecycle.releases.services import (
    create_template_live_in_development,
    create_version_live_in_development,
    deploy_version,
)
from lifecycle.testing.concurrency import at_once
from lifecycle.testing.workflow import approve_for
from templates_app import services as template_services
from templates_app.models import TemplateVersion

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def slow_composition(monkeypatch):
    """Each version's parts are resolved 0.3 s slowly, under the template's lock: the two calls overlap."""
    compose = template_services.compose

    def slowly(*args, **kwargs):
        time.sleep(0.3)
        return compose(*args, **kwargs)

    monkeypatch.setattr(template_services, "compose", slowly)


def test_race__two_refreshes_at_once__one_version_the_other_409(author, reviewers, deployer):
    style = create_template_live_in_development(actor=author, name="house-style", definition={"content": "Be kind."})
    approve_for(style.latest_version, "production", reviewers)
    deploy_version(actor=deployer, version_id=style.latest_version.pk, environment="production")
    prompt = create_template_live_in_development(
        actor=author, name="reply", definition={"content": "{{> house-style}} {{q}}", "variables": [{"name": "q"}]}
    )
    newer = create_version_live_in_development(
        actor=author, template_id=style.pk, definition={"content": "Be kind and brief."}
    )
    approve_for(newer, "production", reviewers)
    deploy_version(actor=deployer, version_id=newer.pk, environment="production")

    refresh = partial(
        create_version_live_in_development, actor=author, template_id=prompt.pk, definition={}, refresh_includes=True
    )
    outcomes = at_once([refresh, refresh])

    made = [outcome for outcome in outcomes if isinstance(outcome, TemplateVersion)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(made) == 1, outcomes
    assert len(refused) == 1
    assert isinstance(refused[0], Conflict)
    assert "nothing to refresh" in refused[0].message
    assert list(TemplateVersion.objects.filter(template=prompt).values_list("content", flat=True)) == [
        "Be kind and brief. {{q}}",
        "Be kind. {{q}}",
    ]
