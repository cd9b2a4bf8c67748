"""What a reviewer sees between two versions: the text as a unified diff, and the interface changes."""

import pytest

from templates_app.diff import diff_versions

pytestmark = pytest.mark.django_db


def test_diff_versions__first_version_against_none__every_line_added(create_template):
    template = create_template(content="Line one {{inquiry}}\nLine two")

    diff = diff_versions(None, template.latest_version)

    assert diff.unified_diff == ("--- /dev/null\n+++ 1.0.0\n@@ -0,0 +1,2 @@\n+Line one {{inquiry}}\n+Line two\n")


def test_diff_versions__first_version_against_none__all_variables_added_and_nothing_else(create_template):
    template = create_template()

    diff = diff_versions(None, template.latest_version)

    assert diff.variables == {
        "added": [{"name": "inquiry", "type": "string", "required": True, "description": "Customer inquiry text"}],
        "removed": [],
        "changed": [],
    }
    assert diff.model_config is None
    assert diff.provider is None
    assert diff.changes == []
    assert diff.against is None
    assert diff.version == template.latest_version


def test_diff_versions__one_line_changed__unified_diff_of_that_line(create_template, new_version):
    template = create_template(content="a {{inquiry}}\nb\nc")
    first = template.latest_version
    second = new_version(template, content="a {{inquiry}}\nB\nc")

    diff = diff_versions(first, second)

    assert diff.unified_diff == ("--- 1.0.0\n+++ 1.0.1\n@@ -1,3 +1,3 @@\n a {{inquiry}}\n-b\n+B\n c\n")
    assert diff.changes == [{"level": "patch", "change": "content changed"}]


def test_diff_versions__chat_messages__diffed_under_role_headings(create_template, new_version):
    template = create_template(
        content=None,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{inquiry}}"}],
    )
    first = template.latest_version
    second = new_version(
        template,
        messages=[{"role": "system", "content": "Be very brief."}, {"role": "user", "content": "{{inquiry}}"}],
    )

    diff = diff_versions(first, second)

    assert diff.unified_diff == (
        "--- 1.0.0\n+++ 1.0.1\n@@ -1,4 +1,4 @@\n ### system\n-Be brief.\n+Be very brief.\n ### user\n {{inquiry}}\n"
    )


def test_diff_versions__only_variables_changed__empty_text_diff(create_template, new_version):
    template = create_template()
    first = template.latest_version
    second = new_version(
        template,
        content=first.content,
        variables=[{"name": "inquiry", "type": "string", "required": True, "description": "The customer's words"}],
    )

    diff = diff_versions(first, second)

    assert diff.unified_diff == ""
    assert diff.variables["changed"] == [
        {
            "name": "inquiry",
            "fields": {"description": {"from": "Customer inquiry text", "to": "The customer's words"}},
        }
    ]


def test_diff_versions__variables_added_removed_and_changed__each_listed(create_template, new_version):
    # Given a version with `a` (to be changed) and `gone` (to be removed)
    template = create_template(
        content="{{a}} {{gone}}",
        variables=[{"name": "a", "maxLength": 10}, {"name": "gone", "required": False}],
    )
    first = template.latest_version
    # When the next version loosens `a`, drops `gone` and adds `fresh`
    second = new_version(
        template,
        content="{{a}} {{fresh}}",
        variables=[{"name": "a", "maxLength": 20}, {"name": "fresh", "type": "integer", "required": False}],
    )

    diff = diff_versions(first, second)

    # Then each change is listed with the variable as it was or is
    assert diff.variables == {
        "added": [{"name": "fresh", "type": "integer", "required": False}],
        "removed": [{"name": "gone", "type": "string", "required": False}],
        "changed": [{"name": "a", "fields": {"maxLength": {"from": 10, "to": 20}}}],
    }
    levels = {entry["level"] for entry in diff.changes}
    assert levels == {"major", "minor", "patch"}


def test_diff_versions__rule_added__from_is_none(create_template, new_version):
    template = create_template()
    first = template.latest_version
    second = new_version(
        template,
        content=first.content,
        variables=[
            {
                "name": "inquiry",
                "type": "string",
                "required": True,
                "description": "Customer inquiry text",
                "minLength": 5,
            }
        ],
    )

    diff = diff_versions(first, second)

    assert diff.variables["changed"] == [{"name": "inquiry", "fields": {"minLength": {"from": None, "to": 5}}}]


def test_diff_versions__model_settings_and_provider_changed__from_and_to(create_template, new_version):
    template = create_template(provider="claude", modelConfig={"model": "claude-sonnet", "temperature": 0.2})
    first = template.latest_version
    second = new_version(
        template, content=first.content, provider="openai", modelConfig={"model": "gpt-4o", "temperature": 0.2}
    )

    diff = diff_versions(first, second)

    assert diff.model_config == {
        "from": {"model": "claude-sonnet", "temperature": 0.2},
        "to": {"model": "gpt-4o", "temperature": 0.2},
    }
    assert diff.provider == {"from": "claude", "to": "openai"}
    assert diff.unified_diff == ""


def test_diff_versions__settings_unchanged__none(create_template, new_version):
    template = create_template()
    first = template.latest_version
    second = new_version(template, content="New words: {{inquiry}}")

    diff = diff_versions(first, second)

    assert diff.model_config is None
    assert diff.provider is None
    assert diff.variables == {"added": [], "removed": [], "changed": []}


def test_diff_versions__against_an_older_version__all_changes_since_then(create_template, new_version):
    template = create_template(content="one {{inquiry}}")
    first = template.latest_version
    new_version(template, content="two {{inquiry}}")
    third = new_version(template, content="three {{inquiry}}")

    diff = diff_versions(first, third)

    assert diff.unified_diff == "--- 1.0.0\n+++ 1.0.2\n@@ -1 +1 @@\n-one {{inquiry}}\n+three {{inquiry}}\n"


def test_diff_versions__text_to_chat__headings_added_and_major_change(create_template, new_version):
    template = create_template(content="{{inquiry}}")
    first = template.latest_version
    second = new_version(template, messages=[{"role": "user", "content": "{{inquiry}}"}])

    diff = diff_versions(first, second)

    assert diff.unified_diff == "--- 1.0.0\n+++ 2.0.0\n@@ -1 +1,2 @@\n+### user\n {{inquiry}}\n"
    assert [entry["level"] for entry in diff.changes] == ["major"]


def test_diff_versions__only_final_line_break_added__change_visible(create_template, new_version):
    # Given a text without a final line break, and the same text with one
    template = create_template(content="Answer: {{inquiry}}")
    first = template.latest_version
    second = new_version(template, content="Answer: {{inquiry}}\n")
    # When they are compared
    diff = diff_versions(first, second).unified_diff
    # Then the diff is not empty and says where the difference is
    assert "\\ No newline at end of file" in diff
    assert diff.startswith("--- 1.0.0\n+++ 1.0.1\n")
