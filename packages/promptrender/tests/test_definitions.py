"""VersionDefinition.parse: the one check of what a version says, and its fingerprint."""

import math

import pytest
from promptrender.definitions import DefinitionInvalid, VersionDefinition


def text_definition(**overrides):
    raw = {
        "content": "Answer {{question}} in a {{tone}} tone.",
        "variables": [
            {"name": "question", "type": "string", "required": True},
            {"name": "tone", "type": "string", "required": False, "default": "friendly"},
        ],
        "modelConfig": {"model": "claude-sonnet", "temperature": 0.2, "maxTokens": 500},
        "provider": "claude",
    }
    raw.update(overrides)
    return raw


def chat_definition(**overrides):
    raw = {
        "messages": [
            {"role": "system", "content": "You answer in {{language}}."},
            {"role": "user", "content": "{{question}}"},
        ],
        "variables": [{"name": "language"}, {"name": "question"}],
    }
    raw.update(overrides)
    return raw


def problems_of(raw):
    with pytest.raises(DefinitionInvalid) as caught:
        VersionDefinition.parse(raw)
    return caught.value.problems


# content and messages


def test_parse__text_prompt__content_variables_settings_and_provider_kept():
    definition = VersionDefinition.parse(text_definition())

    assert definition.kind == "text"
    assert definition.content == "Answer {{question}} in a {{tone}} tone."
    assert definition.messages is None
    assert [spec.name for spec in definition.variables] == ["question", "tone"]
    assert definition.model_config == {"model": "claude-sonnet", "temperature": 0.2, "maxTokens": 500}
    assert definition.provider == "claude"


def test_parse__chat_prompt__messages_kept_in_order_with_roles():
    definition = VersionDefinition.parse(chat_definition())

    assert definition.kind == "chat"
    assert definition.content is None
    assert definition.messages == (("system", "You answer in {{language}}."), ("user", "{{question}}"))
    assert definition.messages_json() == [
        {"role": "system", "content": "You answer in {{language}}."},
        {"role": "user", "content": "{{question}}"},
    ]


def test_parse__only_content__optional_fields_take_their_empty_values():
    definition = VersionDefinition.parse({"content": "No variables here."})

    assert definition.variables == ()
    assert definition.model_config == {}
    assert definition.provider == ""


def test_parse__content_and_messages__refused_at_content():
    problems = problems_of(text_definition(messages=[{"role": "user", "content": "hi"}]))

    assert list(problems) == ["content"]
    assert "not both" in problems["content"][0]


def test_parse__neither_content_nor_messages__refused_at_content():
    problems = problems_of({"variables": []})

    assert list(problems) == ["content"]


@pytest.mark.parametrize("content", ["", "   \n\t", 42, ["text"]])
def test_parse__content_empty_or_not_text__refused_at_content(content):
    problems = problems_of(text_definition(content=content))

    assert list(problems) == ["content"]


def test_parse__content_over_the_limit__refused_at_content():
    problems = problems_of({"content": "x" * 200_001})

    assert list(problems) == ["content"]


@pytest.mark.parametrize("messages", [[], "hello", {"role": "user", "content": "hi"}])
def test_parse__messages_not_a_non_empty_list__refused_at_messages(messages):
    problems = problems_of(chat_definition(messages=messages))

    assert list(problems) == ["messages"]


@pytest.mark.parametrize("role", ["system", "user", "assistant"])
def test_parse__known_roles__accepted(role):
    definition = VersionDefinition.parse({"messages": [{"role": role, "content": "hi"}]})

    assert definition.messages == ((role, "hi"),)


@pytest.mark.parametrize("role", ["tool", "System", "", None])
def test_parse__unknown_role__refused_at_that_messages_role(role):
    messages = [{"role": "system", "content": "ok"}, {"role": role, "content": "hi"}]

    problems = problems_of({"messages": messages})

    assert list(problems) == ["messages[1].role"]


def test_parse__message_not_an_object__refused_at_its_index():
    problems = problems_of({"messages": [{"role": "user", "content": "hi"}, "hello"]})

    assert list(problems) == ["messages[1]"]


def test_parse__message_with_unknown_key__refused_at_that_key():
    problems = problems_of({"messages": [{"role": "user", "content": "hi", "name": "bob"}]})

    assert list(problems) == ["messages[0].name"]


@pytest.mark.parametrize("content", [None, 5, ["hi"]])
def test_parse__message_content_not_text__refused_at_its_content(content):
    problems = problems_of({"messages": [{"role": "user", "content": content}]})

    assert list(problems) == ["messages[0].content"]


def test_parse__too_many_messages__refused_at_messages():
    problems = problems_of({"messages": [{"role": "user", "content": "hi"}] * 101})

    assert list(problems) == ["messages"]


# placeholders against declared variables


def test_parse__undeclared_placeholder_in_content__reported_with_line_and_column():
    # Given `{{ticket}}` on line 2 at column 7, and only `name` declared
    raw = {"content": "Hi {{name}},\nabout {{ticket}}", "variables": [{"name": "name"}]}

    problems = problems_of(raw)

    assert list(problems) == ["content"]
    (message,) = problems["content"]
    assert message.startswith("line 2, column 7: ")
    assert "{{ticket}}" in message


def test_parse__undeclared_placeholder_in_a_message__reported_at_that_message():
    raw = chat_definition(
        messages=[
            {"role": "system", "content": "You answer in {{language}}."},
            {"role": "user", "content": "Q:\n  {{query}}"},
        ]
    )

    problems = problems_of(raw)

    assert list(problems) == ["messages[1].content"]
    assert problems["messages[1].content"][0].startswith("line 2, column 3: ")
    assert "{{query}}" in problems["messages[1].content"][0]


def test_parse__several_undeclared_placeholders__each_reported():
    problems = problems_of({"content": "{{a}} {{b}}", "variables": []})

    assert len(problems["content"]) == 2


def test_parse__placeholder_name_differs_in_case__undeclared():
    problems = problems_of({"content": "{{Name}}", "variables": [{"name": "name"}]})

    assert list(problems) == ["content"]


def test_parse__broken_placeholder_syntax__reported_with_line_and_column():
    problems = problems_of({"content": "ok\nthen {{ not valid }}", "variables": []})

    assert list(problems) == ["content"]
    assert problems["content"][0].startswith("line 2, column 6: ")


def test_parse__declared_but_unused_variable__accepted():
    # A variable may be declared for callers before the text uses it
    definition = VersionDefinition.parse({"content": "static", "variables": [{"name": "unused"}]})

    assert [spec.name for spec in definition.variables] == ["unused"]


def test_parse__escaped_braces_in_content__not_checked_as_placeholders():
    definition = VersionDefinition.parse({"content": r"Use \{{name}} syntax", "variables": []})

    assert definition.content == r"Use \{{name}} syntax"


def test_parse__broken_variables__their_problems_reported_without_undeclared_noise():
    problems = problems_of({"content": "{{a}}", "variables": [{"name": "a", "type": "text"}]})

    assert list(problems) == ["variables[0].type"]


def test_parse__problems_in_several_fields__all_reported_together():
    raw = {
        "content": "{{missing}}",
        "variables": [],
        "modelConfig": {"temperature": 5},
        "provider": 3,
    }

    problems = problems_of(raw)

    assert set(problems) == {"content", "modelConfig.temperature", "provider"}


# modelConfig and provider


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [("temperature", 0, 2), ("topP", 0, 1), ("frequencyPenalty", -2, 2), ("presencePenalty", -2, 2)],
)
def test_parse__number_setting__bounds_accepted_and_beyond_refused(key, low, high):
    for accepted in (low, high, (low + high) / 2):
        assert VersionDefinition.parse(text_definition(modelConfig={key: accepted})).model_config == {key: accepted}
    for refused in (low - 0.01, high + 0.01):
        assert list(problems_of(text_definition(modelConfig={key: refused}))) == [f"modelConfig.{key}"]


@pytest.mark.parametrize("value", [True, "0.5", math.nan, math.inf])
def test_parse__temperature_not_a_finite_number__refused(value):
    problems = problems_of(text_definition(modelConfig={"temperature": value}))

    assert list(problems) == ["modelConfig.temperature"]


@pytest.mark.parametrize("key", ["maxTokens", "topK"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "100"])
def test_parse__count_setting_not_a_positive_whole_number__refused(key, value):
    problems = problems_of(text_definition(modelConfig={key: value}))

    assert list(problems) == [f"modelConfig.{key}"]


@pytest.mark.parametrize("key", ["maxTokens", "topK"])
def test_parse__count_setting_of_one__accepted(key):
    assert VersionDefinition.parse(text_definition(modelConfig={key: 1})).model_config == {key: 1}


@pytest.mark.parametrize("model", ["", 5, "m" * 201])
def test_parse__bad_model_name__refused(model):
    problems = problems_of(text_definition(modelConfig={"model": model}))

    assert list(problems) == ["modelConfig.model"]


@pytest.mark.parametrize("stop", ["\n", [1], ["a", None]])
def test_parse__stop_not_a_list_of_strings__refused(stop):
    problems = problems_of(text_definition(modelConfig={"stop": stop}))

    assert list(problems) == ["modelConfig.stop"]


def test_parse__unknown_model_settings__passed_through():
    config = {"model": "m", "stop": ["\n\n"], "reasoningEffort": "high", "seed": 7}

    assert VersionDefinition.parse(text_definition(modelConfig=config)).model_config == config


@pytest.mark.parametrize("config", [[], "gpt", 1])
def test_parse__model_config_not_an_object__refused(config):
    problems = problems_of(text_definition(modelConfig=config))

    assert list(problems) == ["modelConfig"]


@pytest.mark.parametrize("provider", [5, ["claude"], "p" * 51])
def test_parse__bad_provider__refused(provider):
    problems = problems_of(text_definition(provider=provider))

    assert list(problems) == ["provider"]


def test_parse__provider_of_fifty_characters__accepted():
    assert VersionDefinition.parse(text_definition(provider="p" * 50)).provider == "p" * 50


# fingerprint


def test_fingerprint__same_definition_parsed_twice__equal():
    assert (
        VersionDefinition.parse(text_definition()).fingerprint == VersionDefinition.parse(text_definition()).fingerprint
    )


def test_fingerprint__model_settings_in_another_key_order__equal():
    first = VersionDefinition.parse(text_definition(modelConfig={"model": "m", "temperature": 0.5}))
    second = VersionDefinition.parse(text_definition(modelConfig={"temperature": 0.5, "model": "m"}))

    assert first.fingerprint == second.fingerprint


def test_fingerprint__variable_keys_in_another_order__equal():
    first = VersionDefinition.parse({"content": "{{a}}", "variables": [{"name": "a", "type": "string"}]})
    second = VersionDefinition.parse({"content": "{{a}}", "variables": [{"type": "string", "name": "a"}]})

    assert first.fingerprint == second.fingerprint


def test_fingerprint__variable_defaults_spelled_out__equal_to_left_out():
    # `type: string, required: true` are the defaults: writing them says nothing new
    first = VersionDefinition.parse({"content": "{{a}}", "variables": [{"name": "a"}]})
    second = VersionDefinition.parse(
        {"content": "{{a}}", "variables": [{"name": "a", "type": "string", "required": True}]}
    )

    assert first.fingerprint == second.fingerprint


@pytest.mark.parametrize(
    "change",
    [
        {"content": "Answer {{question}} in a {{tone}} tone!"},
        {"content": "Answer {{question}} in a {{tone}} tone. "},
        {
            "variables": [
                {"name": "question", "type": "string", "required": True},
                {"name": "tone", "type": "string", "required": False, "default": "formal"},
            ]
        },
        {
            "variables": [
                {"name": "question", "type": "string", "required": True, "description": "What to answer"},
                {"name": "tone", "type": "string", "required": False, "default": "friendly"},
            ]
        },
        {
            "variables": [
                {"name": "question", "type": "string", "required": True, "maxLength": 100},
                {"name": "tone", "type": "string", "required": False, "default": "friendly"},
            ]
        },
        {"modelConfig": {"model": "claude-sonnet", "temperature": 0.3, "maxTokens": 500}},
        {"modelConfig": {"model": "claude-opus", "temperature": 0.2, "maxTokens": 500}},
        {"modelConfig": {"model": "claude-sonnet", "temperature": 0.2, "maxTokens": 500, "topP": 0.9}},
        {"provider": "openai"},
        {"provider": None},
    ],
)
def test_fingerprint__anything_renderable_differs__different(change):
    original = VersionDefinition.parse(text_definition())

    changed = VersionDefinition.parse(text_definition(**change))

    assert changed.fingerprint != original.fingerprint


def test_fingerprint__same_text_as_content_or_as_a_message__different():
    as_text = VersionDefinition.parse({"content": "Hello"})
    as_chat = VersionDefinition.parse({"messages": [{"role": "user", "content": "Hello"}]})

    assert as_text.fingerprint != as_chat.fingerprint


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "You answer in {{language}}."}, {"role": "user", "content": "{{question}}"}],
        [{"role": "user", "content": "{{question}}"}, {"role": "system", "content": "You answer in {{language}}."}],
        [{"role": "system", "content": "You answer in {{language}}. "}, {"role": "user", "content": "{{question}}"}],
        [
            {"role": "system", "content": "You answer in {{language}}."},
            {"role": "user", "content": "{{question}}"},
            {"role": "assistant", "content": ""},
        ],
    ],
)
def test_fingerprint__chat_message_role_order_or_text_differs__different(messages):
    original = VersionDefinition.parse(chat_definition())

    changed = VersionDefinition.parse(chat_definition(messages=messages))

    assert changed.fingerprint != original.fingerprint


def test_fingerprint__text_split_differently_across_messages__different():
    # The same characters in other messages are a different prompt for the model
    first = VersionDefinition.parse({"messages": [{"role": "user", "content": "ab"}, {"role": "user", "content": "c"}]})
    second = VersionDefinition.parse(
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "bc"}]}
    )

    assert first.fingerprint != second.fingerprint
