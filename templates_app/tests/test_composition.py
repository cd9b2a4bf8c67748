"""templates_app.composition on its own: pinned parts (nothing here knows what is deployed), spliced where the
author wrote them, in text and chat messages, with the author's text kept beside the flattened one."""

from __future__ import annotations

import pytest

from lifecycle.core.exceptions import InvalidInput
from templates_app.composition import PartLookup, compose, included_templates
from templates_app.services import create_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def part(create_template):
    return create_template(name="disclaimer", content="Not legal advice.", variables=[], metadata={})


def test_compose__nothing_included__fields_as_given_and_no_source(part):
    composition = compose(
        {"content": "Plain {{x}}", "variables": [{"name": "x"}]}, template_id=None, parts=PartLookup()
    )
    assert composition.fields == {"content": "Plain {{x}}", "variables": [{"name": "x"}]}
    assert composition.source is None
    assert composition.includes == ()


def test_compose__references_in_two_messages__each_spliced_others_untouched(part):
    fields = {
        "messages": [
            {"role": "system", "content": "A. {{> disclaimer@1.0.0}}"},
            {"role": "user", "content": "{{q}}"},
            {"role": "assistant", "content": "{{>   Disclaimer@1.0.0 }} B."},
        ],
        "variables": [{"name": "q"}],
    }
    composition = compose(fields, template_id=None, parts=PartLookup())
    assert [message["content"] for message in composition.fields["messages"]] == [
        "A. Not legal advice.",
        "{{q}}",
        "Not legal advice. B.",
    ]
    assert [message["content"] for message in composition.source["messages"]] == [
        "A. {{> disclaimer@1.0.0}}",
        "{{q}}",
        "{{>   Disclaimer@1.0.0 }} B.",  # kept as written, spacing and case included
    ]
    assert [(item.where, item.ref.line, item.ref.column) for item in composition.includes] == [
        ("messages[0].content", 1, 4),
        ("messages[2].content", 1, 1),
    ]
    assert fields["messages"][0]["content"] == "A. {{> disclaimer@1.0.0}}"  # the caller's input is not changed


def test_compose__unpinned_without_deployments__400(part):
    with pytest.raises(InvalidInput) as raised:
        compose({"content": "{{> disclaimer}}"}, template_id=None, parts=PartLookup())
    assert raised.value.fields == {
        "content": ["line 1, column 1: {{> disclaimer}}: 'disclaimer' has no version active in production"]
    }


def test_compose__refresh__pinned_reference_rewritten_others_kept(part, author):
    create_version(actor=author, template_id=part.pk, definition={"content": "Still not legal advice."})
    composition = compose({"content": "{{> disclaimer@1.0.0}}!"}, template_id=None, parts=PartLookup(), refresh=True)
    assert composition.fields["content"] == "Still not legal advice.!"
    assert composition.source["content"] == "{{> disclaimer@1.0.1}}!"


def test_included_templates__nested_parts__templates_and_depth(create_template, part):
    middle = create_template(name="middle", content="M {{> disclaimer@1.0.0}}", variables=[], metadata={})
    outer = create_template(name="outer", content="O {{> middle@1.0.0}}", variables=[], metadata={})
    reach = included_templates([outer.latest_version.pk, middle.latest_version.pk, part.latest_version.pk])
    assert reach[outer.latest_version.pk] == ({middle.pk, part.pk}, 2)
    assert reach[middle.latest_version.pk] == ({part.pk}, 1)
    assert reach[part.latest_version.pk] == (set(), 0)
    assert outer.latest_version.content == "O M Not legal advice."
