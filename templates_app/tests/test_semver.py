"""Version numbers computed from what changed: the major/minor/patch rules of semver.py's docstring."""

import pytest
from promptrender.definitions import VersionDefinition

from templates_app.semver import Bump, SemVer, classify_change

MAJOR, MINOR, PATCH = Bump.MAJOR, Bump.MINOR, Bump.PATCH


def define(content="Hello {{name}}", variables=None, model_config=None, provider="claude", messages=None):
    raw = {
        "variables": [{"name": "name", "type": "string"}] if variables is None else variables,
        "modelConfig": {"model": "m", "temperature": 0.2} if model_config is None else model_config,
        "provider": provider,
    }
    if messages is not None:
        raw["messages"] = messages
    else:
        raw["content"] = content
    return VersionDefinition.parse(raw)


def bump_between(previous, new):
    return classify_change(previous, new).bump


def with_rules(type_name="string", required=True, **rules):
    return define(content="{{v}}", variables=[{"name": "v", "type": type_name, "required": required, **rules}])


# nothing changed


def test_classify_change__identical_definitions__no_bump_and_no_reasons():
    change = classify_change(define(), define())

    assert change.bump is None
    assert change.reasons == ()
    assert change.summary() == []


# major


def test_classify_change__required_variable_added__major():
    before = define()
    after = define(
        content="Hello {{name}} from {{city}}",
        variables=[{"name": "name"}, {"name": "city", "required": True}],
    )

    change = classify_change(before, after)

    assert change.bump is MAJOR
    assert any("city" in reason for reason in change.reasons_for(MAJOR))


def test_classify_change__variable_removed__major():
    before = define(content="{{a}} {{b}}", variables=[{"name": "a"}, {"name": "b", "required": False}])
    after = define(content="{{a}}", variables=[{"name": "a"}])

    change = classify_change(before, after)

    assert change.bump is MAJOR
    assert any("'b' removed" in reason for reason in change.reasons_for(MAJOR))


@pytest.mark.parametrize(("old", "new"), [("string", "integer"), ("integer", "number"), ("array", "object")])
def test_classify_change__variable_retyped__major(old, new):
    assert bump_between(with_rules(old), with_rules(new)) is MAJOR


def test_classify_change__optional_variable_made_required__major():
    assert bump_between(with_rules(required=False), with_rules(required=True)) is MAJOR


def test_classify_change__text_to_chat__major():
    before = define(content="Hello {{name}}")
    after = define(messages=[{"role": "user", "content": "Hello {{name}}"}])

    change = classify_change(before, after)

    assert change.bump is MAJOR
    assert change.reasons_for(PATCH) == []  # the kind change covers the text change


def test_classify_change__chat_to_text__major():
    before = define(messages=[{"role": "user", "content": "Hello {{name}}"}])
    after = define(content="Hello {{name}}")

    assert bump_between(before, after) is MAJOR


# rules: tightened is major, loosened is minor


@pytest.mark.parametrize(
    ("type_name", "old", "new"),
    [
        ("string", {}, {"minLength": 1}),
        ("string", {"minLength": 1}, {"minLength": 2}),
        ("array", {"minLength": 0}, {"minLength": 1}),
        ("string", {}, {"maxLength": 100}),
        ("string", {"maxLength": 100}, {"maxLength": 99}),
        ("integer", {}, {"minimum": 0}),
        ("integer", {"minimum": 0}, {"minimum": 1}),
        ("number", {"minimum": -1.5}, {"minimum": -1.25}),
        ("integer", {}, {"maximum": 10}),
        ("number", {"maximum": 10}, {"maximum": 9.5}),
        ("string", {}, {"enum": ["a", "b"]}),
        ("string", {"enum": ["a", "b"]}, {"enum": ["a"]}),
        ("string", {"enum": ["a", "b"]}, {"enum": ["a", "c"]}),
        ("integer", {"enum": [1, 2]}, {"enum": [2, 3]}),
        ("string", {}, {"pattern": "^[a-z]+$"}),
        ("string", {"pattern": "^[a-z]+$"}, {"pattern": "^[a-z]*$"}),
    ],
)
def test_classify_change__rule_added_or_tightened__major(type_name, old, new):
    change = classify_change(with_rules(type_name, **old), with_rules(type_name, **new))

    assert change.bump is MAJOR
    (rule,) = new.keys()
    assert any(f"rule {rule} tightened" in reason for reason in change.reasons_for(MAJOR))


@pytest.mark.parametrize(
    ("type_name", "old", "new"),
    [
        ("string", {"minLength": 1}, {}),
        ("string", {"minLength": 2}, {"minLength": 1}),
        ("array", {"minLength": 1}, {"minLength": 0}),
        ("string", {"maxLength": 100}, {}),
        ("string", {"maxLength": 100}, {"maxLength": 101}),
        ("integer", {"minimum": 0}, {}),
        ("integer", {"minimum": 1}, {"minimum": 0}),
        ("number", {"minimum": 0.5}, {"minimum": 0.25}),
        ("integer", {"maximum": 10}, {}),
        ("number", {"maximum": 10}, {"maximum": 10.5}),
        ("string", {"enum": ["a"]}, {}),
        ("string", {"enum": ["a"]}, {"enum": ["a", "b"]}),
        ("string", {"enum": ["a", "b"]}, {"enum": ["b", "a", "c"]}),
        ("string", {"pattern": "^[a-z]+$"}, {}),
    ],
)
def test_classify_change__rule_removed_or_loosened__minor(type_name, old, new):
    change = classify_change(with_rules(type_name, **old), with_rules(type_name, **new))

    assert change.bump is MINOR
    (rule,) = (old or new).keys()
    assert any(f"rule {rule} loosened" in reason for reason in change.reasons_for(MINOR))


def test_classify_change__enum_choices_only_reordered__not_minor_or_major():
    # The same choices accept the same values: the interface neither grows nor breaks
    change = classify_change(with_rules(enum=["a", "b", "c"]), with_rules(enum=["c", "a", "b"]))

    assert change.bump in (None, PATCH)


def test_classify_change__one_rule_loosened_and_another_tightened__major():
    before = with_rules("string", minLength=5, maxLength=10)
    after = with_rules("string", minLength=1, maxLength=8)

    change = classify_change(before, after)

    assert change.bump is MAJOR
    assert change.reasons_for(MINOR) != []  # the loosening is still listed


# minor


def test_classify_change__optional_variable_added__minor():
    before = define()
    after = define(
        content="Hello {{name}}{{suffix}}",
        variables=[{"name": "name"}, {"name": "suffix", "required": False}],
    )

    change = classify_change(before, after)

    assert change.bump is MINOR
    assert any("suffix" in reason for reason in change.reasons_for(MINOR))


def test_classify_change__required_variable_made_optional__minor():
    assert bump_between(with_rules(required=True), with_rules(required=False)) is MINOR


@pytest.mark.parametrize(
    ("old", "new"),
    [({}, {"default": "x"}), ({"default": "x"}, {"default": "y"}), ({"default": "x"}, {})],
)
def test_classify_change__default_added_changed_or_removed__minor(old, new):
    assert bump_between(with_rules(required=False, **old), with_rules(required=False, **new)) is MINOR


@pytest.mark.parametrize(
    "model_config",
    [{"model": "m", "temperature": 0.3}, {"model": "other", "temperature": 0.2}, {"model": "m"}, {}],
)
def test_classify_change__model_settings_changed__minor(model_config):
    assert bump_between(define(), define(model_config=model_config)) is MINOR


@pytest.mark.parametrize("provider", ["openai", None])
def test_classify_change__provider_changed__minor(provider):
    change = classify_change(define(provider="claude"), define(provider=provider))

    assert change.bump is MINOR
    assert any("provider" in reason for reason in change.reasons_for(MINOR))


def test_classify_change__text_and_settings_changed__minor_wins_over_patch():
    change = classify_change(define(), define(content="Hi {{name}}", provider="openai"))

    assert change.bump is MINOR
    assert change.reasons_for(PATCH) == ["content changed"]


# patch


def test_classify_change__only_text_changed__patch():
    change = classify_change(define(content="Hello {{name}}"), define(content="Hello, {{name}}!"))

    assert change.bump is PATCH
    assert change.summary() == [{"level": "patch", "change": "content changed"}]


def test_classify_change__only_a_chat_message_changed__patch():
    before = define(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{name}}"}])
    after = define(messages=[{"role": "system", "content": "Be very brief."}, {"role": "user", "content": "{{name}}"}])

    assert bump_between(before, after) is PATCH


def test_classify_change__chat_message_added__patch():
    before = define(messages=[{"role": "user", "content": "{{name}}"}])
    after = define(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{name}}"}])

    assert bump_between(before, after) is PATCH


def test_classify_change__only_a_variable_description_changed__patch():
    before = with_rules(description="old words")
    after = with_rules(description="new words")

    change = classify_change(before, after)

    assert change.bump is PATCH
    assert change.reasons_for(MINOR) == []
    assert change.reasons_for(MAJOR) == []


def test_classify_change__summary__level_labels_and_reasons_in_order():
    before = define(content="{{a}}", variables=[{"name": "a"}])
    after = define(content="{{a}}!", variables=[{"name": "a", "required": False}])

    summary = classify_change(before, after).summary()

    assert {"level": "minor", "change": "variable 'a' made optional"} in summary
    assert {"level": "patch", "change": "content changed"} in summary


# Bump


def test_bump__levels__ordered_patch_minor_major():
    assert PATCH < MINOR < MAJOR


@pytest.mark.parametrize(("label", "bump"), [("patch", PATCH), ("minor", MINOR), ("major", MAJOR)])
def test_bump__label__round_trips(label, bump):
    assert Bump.from_label(label) is bump
    assert bump.label == label


# SemVer


@pytest.mark.parametrize(
    ("text", "parts"),
    [("1.0.0", (1, 0, 0)), ("0.0.0", (0, 0, 0)), ("10.20.30", (10, 20, 30)), ("123456789.0.1", (123456789, 0, 1))],
)
def test_semver_parse__major_minor_patch__parsed(text, parts):
    version = SemVer.parse(text)

    assert (version.major, version.minor, version.patch) == parts
    assert str(version) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1.0",
        "1.0.0.0",
        "v1.0.0",
        "01.0.0",
        "1.00.0",
        "1.0.0-beta",
        "1.0.0+build",
        " 1.0.0",
        "1.0.0\n",
        "a.b.c",
    ],
)
def test_semver_parse__not_plain_major_minor_patch__value_error(text):
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH"):
        SemVer.parse(text)


@pytest.mark.parametrize("value", [None, 1, 1.0, ["1", "0", "0"]])
def test_semver_parse__not_a_string__value_error(value):
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH"):
        SemVer.parse(value)


@pytest.mark.parametrize(
    ("bump", "expected"),
    [(MAJOR, SemVer(2, 0, 0)), (MINOR, SemVer(1, 5, 0)), (PATCH, SemVer(1, 4, 8))],
)
def test_semver_bumped__each_level__resets_the_lower_parts(bump, expected):
    assert SemVer(1, 4, 7).bumped(bump) == expected


def test_semver__ordering__numeric_not_textual():
    assert SemVer.parse("1.10.0") > SemVer.parse("1.9.0")
    assert SemVer.parse("2.0.0") > SemVer.parse("1.99.99")
    assert SemVer.parse("1.0.10") > SemVer.parse("1.0.9")
