"""The safe renderer: values are substituted literally, never evaluated and never scanned again."""

import uuid

import pytest
from promptrender.definitions import VersionDefinition
from promptrender.rendering import RenderPlan
from promptrender.variables import ValuesInvalid


def plan_for(**raw):
    return RenderPlan.compile(
        version_id=uuid.uuid4(), template_id=uuid.uuid4(), version="1.2.3", definition=VersionDefinition.parse(raw)
    )


def text_plan(content, *names, **extra):
    return plan_for(content=content, variables=[{"name": name} for name in names], **extra)


def test_render__text_prompt__each_placeholder_replaced_by_its_value():
    plan = text_plan("Dear {{name}}, about {{ topic }}:", "name", "topic")

    assert plan.render({"name": "Ada", "topic": "billing"}) == "Dear Ada, about billing:"


def test_render__same_placeholder_twice__value_at_both_places():
    plan = text_plan("{{x}}-{{x}}", "x")

    assert plan.render({"x": "ab"}) == "ab-ab"


def test_render__no_placeholders__text_unchanged():
    plan = text_plan('Static prompt with JSON {"a": {"b": 1}}')

    assert plan.render({}) == 'Static prompt with JSON {"a": {"b": 1}}'


def test_render__escaped_braces__literal_double_braces_in_output():
    plan = text_plan(r"Show \{{name}} and fill {{name}}", "name")

    assert plan.render({"name": "Ada"}) == "Show {{name}} and fill Ada"


def test_render__compiled_plan__keeps_its_identity():
    version_id, template_id = uuid.uuid4(), uuid.uuid4()
    definition = VersionDefinition.parse({"content": "hi"})

    plan = RenderPlan.compile(version_id=version_id, template_id=template_id, version="2.0.1", definition=definition)

    assert (plan.version_id, plan.template_id, plan.version, plan.definition) == (
        version_id,
        template_id,
        "2.0.1",
        definition,
    )


@pytest.mark.parametrize(
    "value",
    [
        "{{other}}",
        "{{ other }}",
        "{{name}}",
        r"\{{other}}",
        "{{",
        "}}",
        "{0}",
        "{name}",
        "%(name)s",
        "%s",
        "{% for x in y %}{{ x }}{% endfor %}",
        "{{ config.__class__.__init__.__globals__ }}",
        "${name}",
        "$name",
        "#{name}",
        "<%= name %>",
        "\\n\\t",
        "\x00",
    ],
)
def test_render__value_with_template_syntax__appears_verbatim(value):
    # Given a prompt whose other variable would expand if the value were scanned again
    plan = text_plan("A[{{name}}] B[{{other}}]", "name", "other")

    rendered = plan.render({"name": value, "other": "SECRET"})

    assert rendered == "A[" + value + "] B[SECRET]"


def test_render__value_naming_an_undeclared_variable__not_an_error():
    plan = text_plan("Q: {{question}}", "question")

    assert plan.render({"question": "what is {{undeclared}}?"}) == "Q: what is {{undeclared}}?"


def test_render__chat_prompt__each_message_rendered_with_its_role():
    plan = plan_for(
        messages=[
            {"role": "system", "content": "Answer in {{language}}."},
            {"role": "user", "content": "{{question}}"},
            {"role": "assistant", "content": "Sure, in {{language}}:"},
        ],
        variables=[{"name": "language"}, {"name": "question"}],
    )

    rendered = plan.render({"language": "French", "question": "{{language}}?"})

    assert rendered == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "{{language}}?"},
        {"role": "assistant", "content": "Sure, in French:"},
    ]


def test_render__chat_message_without_placeholders__text_unchanged():
    plan = plan_for(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": ""}])

    assert plan.render({}) == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": ""}]


def test_render__optional_variable_missing__its_default():
    plan = plan_for(
        content="Tone: {{tone}}.",
        variables=[{"name": "tone", "required": False, "default": "friendly"}],
    )

    assert plan.render({}) == "Tone: friendly."
    assert plan.render({"tone": None}) == "Tone: friendly."
    assert plan.render({"tone": "stern"}) == "Tone: stern."


def test_render__optional_variable_missing_without_default__empty():
    plan = plan_for(content="[{{suffix}}]", variables=[{"name": "suffix", "required": False}])

    assert plan.render({}) == "[]"


def test_render__non_string_values__written_as_json():
    plan = plan_for(
        content="n={{n}} ok={{ok}} items={{items}} data={{data}}",
        variables=[
            {"name": "n", "type": "integer"},
            {"name": "ok", "type": "boolean"},
            {"name": "items", "type": "array"},
            {"name": "data", "type": "object"},
        ],
    )

    rendered = plan.render({"n": 3, "ok": False, "items": ["a", "{{n}}"], "data": {"k": "é"}})

    assert rendered == 'n=3 ok=false items=["a", "{{n}}"] data={"k": "é"}'


def test_render__default_containing_placeholder_syntax__verbatim():
    plan = plan_for(
        content="{{a}}|{{b}}",
        variables=[{"name": "a", "required": False, "default": "{{b}}"}, {"name": "b"}],
    )

    assert plan.render({"b": "B"}) == "{{b}}|B"


def test_render__required_value_missing__invalid_naming_the_variable():
    plan = text_plan("{{a}} {{b}}", "a", "b")

    with pytest.raises(ValuesInvalid) as caught:
        plan.render({"a": "x"})

    assert caught.value.fields == {"variables.b": ["is required"]}


def test_render__value_of_wrong_type__invalid_naming_the_variable():
    plan = plan_for(content="{{count}}", variables=[{"name": "count", "type": "integer"}])

    with pytest.raises(ValuesInvalid) as caught:
        plan.render({"count": "3"})

    assert list(caught.value.fields) == ["variables.count"]
    assert "integer" in caught.value.fields["variables.count"][0]


def test_render__value_breaking_a_rule__invalid_naming_the_variable():
    plan = plan_for(content="{{code}}", variables=[{"name": "code", "pattern": "^[A-Z]{3}$"}])

    with pytest.raises(ValuesInvalid) as caught:
        plan.render({"code": "abc"})

    assert list(caught.value.fields) == ["variables.code"]


def test_render__declared_variable_not_in_text__still_checked():
    # The schema is the contract, even for a variable this version's text does not use
    plan = plan_for(content="static", variables=[{"name": "unused", "type": "integer"}])

    with pytest.raises(ValuesInvalid) as caught:
        plan.render({"unused": "x"})

    assert list(caught.value.fields) == ["variables.unused"]


def test_render__extra_undeclared_values__ignored():
    plan = text_plan("{{a}}", "a")

    assert plan.render({"a": "1", "b": "2", "c": {"x": 1}}) == "1"


def test_render__same_plan_rendered_twice__independent_results():
    plan = text_plan("<{{a}}>", "a")

    assert plan.render({"a": "one"}) == "<one>"
    assert plan.render({"a": "two"}) == "<two>"
