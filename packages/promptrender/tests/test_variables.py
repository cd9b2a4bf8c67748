"""Variable schemas: their check when a version is created, and the check of values when it is rendered."""

import json
import math
import time

import pytest
from promptrender.variables import (
    MAX_VARIABLES,
    ValuesInvalid,
    VariablesInvalid,
    as_text,
    parse_variables,
    resolve_values,
)


def problems_of(raw):
    """The problems parse_variables reports for `raw` (failing the test when it accepts it)."""
    with pytest.raises(VariablesInvalid) as caught:
        parse_variables(raw)
    return caught.value.problems


def one_spec(**fields):
    (spec,) = parse_variables([{"name": "v", **fields}])
    return spec


def value_problems(specs, values):
    with pytest.raises(ValuesInvalid) as caught:
        resolve_values(specs, values)
    return caught.value.fields


# parse_variables: the list itself


@pytest.mark.parametrize("raw", [None, []])
def test_parse_variables__none_or_empty__no_variables(raw):
    assert parse_variables(raw) == ()


@pytest.mark.parametrize("raw", ["name", {"name": "a"}, 3])
def test_parse_variables__not_a_list__problem_at_variables(raw):
    problems = problems_of(raw)

    assert list(problems) == ["variables"]


def test_parse_variables__more_than_the_limit__refused_and_the_limit_accepted():
    at_limit = [{"name": f"v{i}", "required": False} for i in range(MAX_VARIABLES)]

    assert len(parse_variables(at_limit)) == MAX_VARIABLES
    assert list(problems_of([*at_limit, {"name": "one_more", "required": False}])) == ["variables"]


def test_parse_variables__item_not_an_object__problem_names_its_index():
    problems = problems_of([{"name": "ok"}, "just_a_name"])

    assert list(problems) == ["variables[1]"]


def test_parse_variables__minimal_item__string_and_required_by_default():
    (spec,) = parse_variables([{"name": "topic"}])

    assert (spec.name, spec.type, spec.required, spec.has_default) == ("topic", "string", True, False)


def test_parse_variables__unknown_key__problem_names_the_key():
    problems = problems_of([{"name": "a"}, {"name": "b", "colour": "red"}])

    assert list(problems) == ["variables[1].colour"]


def test_parse_variables__camel_case_typo__reported_not_ignored():
    # `minlength` is not `minLength`: silently ignoring it would drop the author's rule
    problems = problems_of([{"name": "a", "minlength": 3}])

    assert list(problems) == ["variables[0].minlength"]


@pytest.mark.parametrize("name", [None, "", "1st", "first-name", "first name", "naïve", 7])
def test_parse_variables__bad_name__problem_at_name(name):
    item = {"type": "string"} if name is None else {"name": name}

    problems = problems_of([{"name": "fine"}, item])

    assert list(problems) == ["variables[1].name"]


@pytest.mark.parametrize("type_name", ["str", "float", "String", "null", None, ["string"]])
def test_parse_variables__unknown_type__problem_at_type(type_name):
    problems = problems_of([{"name": "a"}, {"name": "b", "type": type_name}])

    assert list(problems) == ["variables[1].type"]


@pytest.mark.parametrize("type_name", ["string", "number", "integer", "boolean", "array", "object"])
def test_parse_variables__every_json_type__accepted(type_name):
    (spec,) = parse_variables([{"name": "a", "type": type_name}])

    assert spec.type == type_name


@pytest.mark.parametrize("required", ["yes", 1, 0, None])
def test_parse_variables__required_not_a_boolean__problem_at_required(required):
    problems = problems_of([{"name": "a", "required": required}])

    assert list(problems) == ["variables[0].required"]


@pytest.mark.parametrize("description", [5, "x" * 2001])
def test_parse_variables__bad_description__problem_at_description(description):
    problems = problems_of([{"name": "a", "description": description}])

    assert list(problems) == ["variables[0].description"]


def test_parse_variables__duplicate_name__problem_at_the_second_one():
    problems = problems_of([{"name": "a"}, {"name": "b"}, {"name": "a", "type": "integer"}])

    assert list(problems) == ["variables[2].name"]
    assert "'a'" in problems["variables[2].name"][0]


def test_parse_variables__names_differing_in_case__distinct_variables():
    # Placeholders are case-sensitive, so `{{Name}}` and `{{name}}` are two variables
    specs = parse_variables([{"name": "name"}, {"name": "Name"}])

    assert [spec.name for spec in specs] == ["name", "Name"]


def test_parse_variables__problems_in_several_items__all_reported_together():
    problems = problems_of([{"name": "a", "type": "text"}, {"name": "ok"}, {"name": "2x"}, {"name": "c", "x": 1}])

    assert set(problems) == {"variables[0].type", "variables[2].name", "variables[3].x"}


def test_parse_variables__custom_path__used_in_problems():
    with pytest.raises(VariablesInvalid) as caught:
        parse_variables([{"name": "a", "type": "bad"}], path="data.variables")

    assert list(caught.value.problems) == ["data.variables[0].type"]


# parse_variables: rules and the types they apply to


@pytest.mark.parametrize(
    ("type_name", "enum"),
    [("string", ["a", "b"]), ("integer", [1, 2]), ("number", [1, 2.5]), ("boolean", [True])],
)
def test_parse_variables__enum_for_scalar_types__accepted(type_name, enum):
    spec = one_spec(type=type_name, enum=enum)

    assert spec.enum == tuple(enum)


@pytest.mark.parametrize(("type_name", "enum"), [("array", [[1]]), ("object", [{"a": 1}])])
def test_parse_variables__enum_for_array_or_object__refused(type_name, enum):
    problems = problems_of([{"name": "v", "type": type_name, "enum": enum}])

    assert list(problems) == ["variables[0].enum"]


@pytest.mark.parametrize(
    ("type_name", "enum"),
    [
        ("string", []),
        ("string", "a"),
        ("string", ["a", 1]),
        ("integer", [1, 1.5]),
        ("integer", [1, True]),
        ("number", [1, "2"]),
        ("boolean", [True, 0]),
        ("string", ["a", "a"]),
    ],
)
def test_parse_variables__bad_enum__problem_at_enum(type_name, enum):
    problems = problems_of([{"name": "v", "type": type_name, "enum": enum}])

    assert list(problems) == ["variables[0].enum"]


def test_parse_variables__pattern_on_string__accepted():
    spec = one_spec(pattern=r"^[A-Z]{2}-\d+$")

    assert spec.pattern == r"^[A-Z]{2}-\d+$"


@pytest.mark.parametrize("type_name", ["number", "integer", "boolean", "array", "object"])
def test_parse_variables__pattern_on_other_types__refused(type_name):
    problems = problems_of([{"name": "v", "type": type_name, "pattern": "a"}])

    assert list(problems) == ["variables[0].pattern"]


@pytest.mark.parametrize("pattern", ["", 5, "a" * 1001, "(unclosed", "[z-a]", "*"])
def test_parse_variables__bad_pattern__problem_at_pattern(pattern):
    problems = problems_of([{"name": "v", "pattern": pattern}])

    assert list(problems) == ["variables[0].pattern"]


@pytest.mark.parametrize("type_name", ["string", "array"])
def test_parse_variables__lengths_on_string_or_array__accepted(type_name):
    spec = one_spec(type=type_name, minLength=0, maxLength=3)

    assert (spec.min_length, spec.max_length) == (0, 3)


@pytest.mark.parametrize("type_name", ["number", "integer", "boolean", "object"])
@pytest.mark.parametrize("key", ["minLength", "maxLength"])
def test_parse_variables__lengths_on_other_types__refused(type_name, key):
    problems = problems_of([{"name": "v", "type": type_name, key: 1}])

    assert list(problems) == [f"variables[0].{key}"]


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
@pytest.mark.parametrize("key", ["minLength", "maxLength"])
def test_parse_variables__length_not_a_count__refused(key, value):
    problems = problems_of([{"name": "v", key: value}])

    assert list(problems) == [f"variables[0].{key}"]


def test_parse_variables__min_length_above_max_length__refused_and_equal_accepted():
    assert list(problems_of([{"name": "v", "minLength": 4, "maxLength": 3}])) == ["variables[0].minLength"]
    assert one_spec(minLength=3, maxLength=3).min_length == 3


@pytest.mark.parametrize("type_name", ["number", "integer"])
def test_parse_variables__range_on_numbers__accepted(type_name):
    spec = one_spec(type=type_name, minimum=-1, maximum=2.5)

    assert (spec.minimum, spec.maximum) == (-1, 2.5)


@pytest.mark.parametrize("type_name", ["string", "boolean", "array", "object"])
@pytest.mark.parametrize("key", ["minimum", "maximum"])
def test_parse_variables__range_on_other_types__refused(type_name, key):
    problems = problems_of([{"name": "v", "type": type_name, key: 1}])

    assert list(problems) == [f"variables[0].{key}"]


@pytest.mark.parametrize("value", [True, "1", math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("key", ["minimum", "maximum"])
def test_parse_variables__range_not_a_finite_number__refused(key, value):
    problems = problems_of([{"name": "v", "type": "number", key: value}])

    assert list(problems) == [f"variables[0].{key}"]


def test_parse_variables__minimum_above_maximum__refused():
    problems = problems_of([{"name": "v", "type": "integer", "minimum": 10, "maximum": 9}])

    assert list(problems) == ["variables[0].minimum"]


# parse_variables: defaults


def test_parse_variables__default_on_optional_variable__kept():
    spec = one_spec(required=False, default="friendly")

    assert spec.has_default
    assert spec.default == "friendly"


def test_parse_variables__falsy_default__still_a_default():
    spec = one_spec(type="integer", required=False, default=0)

    assert spec.has_default
    assert spec.default == 0


def test_parse_variables__default_on_required_variable__refused():
    problems = problems_of([{"name": "v", "required": True, "default": "x"}])

    assert list(problems) == ["variables[0].default"]


@pytest.mark.parametrize(
    "rules",
    [
        {"type": "integer", "default": "3"},
        {"type": "integer", "default": True},
        {"type": "string", "default": None},
        {"type": "string", "enum": ["a", "b"], "default": "c"},
        {"type": "string", "pattern": "^[a-z]+$", "default": "ABC"},
        {"type": "string", "minLength": 2, "default": "a"},
        {"type": "array", "maxLength": 1, "default": [1, 2]},
        {"type": "number", "maximum": 1, "default": 1.5},
        {"type": "integer", "minimum": 0, "default": -1},
    ],
)
def test_parse_variables__default_breaking_the_rules__refused(rules):
    problems = problems_of([{"name": "v", "required": False, **rules}])

    assert list(problems) == ["variables[0].default"]


def test_parse_variables__specs_written_back_as_json__parse_to_the_same_specs():
    # Versions store to_json() and parse it again to render: nothing may be lost on the way
    raw = [
        {"name": "a", "type": "string", "required": True, "description": "d", "pattern": "x", "minLength": 1},
        {"name": "b", "type": "integer", "required": False, "default": 3, "minimum": 0, "maximum": 5},
        {"name": "c", "type": "string", "required": False, "enum": ["x", "y"], "default": "y"},
        {"name": "d", "type": "array", "required": False, "maxLength": 2},
    ]
    specs = parse_variables(raw)

    assert [spec.to_json() for spec in specs] == raw
    assert parse_variables([spec.to_json() for spec in specs]) == specs


# resolve_values


def test_resolve_values__strings__as_given():
    specs = parse_variables([{"name": "a"}, {"name": "b"}])

    assert resolve_values(specs, {"a": "x", "b": "  y\n"}) == {"a": "x", "b": "  y\n"}


def test_resolve_values__required_missing__values_invalid_naming_the_variable():
    specs = parse_variables([{"name": "present"}, {"name": "absent"}])

    with pytest.raises(ValuesInvalid) as caught:
        resolve_values(specs, {"present": "x"})

    assert isinstance(caught.value, ValueError)
    assert caught.value.fields == {"variables.absent": ["is required"]}
    assert "variables.absent" in caught.value.message


def test_resolve_values__required_null__counts_as_missing():
    specs = parse_variables([{"name": "a"}])

    assert value_problems(specs, {"a": None}) == {"variables.a": ["is required"]}


def test_resolve_values__required_empty_string__is_a_value():
    specs = parse_variables([{"name": "a"}])

    assert resolve_values(specs, {"a": ""}) == {"a": ""}


def test_resolve_values__several_bad_values__every_one_reported():
    specs = parse_variables([{"name": "a"}, {"name": "b", "type": "integer"}, {"name": "c"}])

    problems = value_problems(specs, {"b": "seven", "c": "fine"})

    assert set(problems) == {"variables.a", "variables.b"}


def test_resolve_values__optional_missing_without_default__empty_text():
    specs = parse_variables([{"name": "a", "required": False}])

    assert resolve_values(specs, {}) == {"a": ""}


@pytest.mark.parametrize("values", [{}, {"tone": None}])
def test_resolve_values__optional_missing_or_null_with_default__the_default(values):
    specs = parse_variables([{"name": "tone", "required": False, "default": "friendly"}])

    assert resolve_values(specs, values) == {"tone": "friendly"}


def test_resolve_values__non_string_default__rendered_as_json():
    specs = parse_variables(
        [
            {"name": "n", "type": "integer", "required": False, "default": 3},
            {"name": "flags", "type": "array", "required": False, "default": ["a", True]},
        ]
    )

    assert resolve_values(specs, {}) == {"n": "3", "flags": '["a", true]'}


def test_resolve_values__undeclared_values__ignored():
    specs = parse_variables([{"name": "a"}])

    assert resolve_values(specs, {"a": "x", "variant_b_only": {"anything": 1}}) == {"a": "x"}


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("string", 5),
        ("string", ["x"]),
        ("integer", 1.5),
        ("integer", "1"),
        ("integer", True),
        ("integer", False),
        ("number", True),
        ("number", "2.5"),
        ("boolean", "true"),
        ("boolean", 1),
        ("array", "a,b"),
        ("array", {"a": 1}),
        ("object", [1]),
        ("object", "{}"),
    ],
)
def test_resolve_values__wrong_type__refused_naming_the_type(type_name, value):
    specs = parse_variables([{"name": "v", "type": type_name}])

    problems = value_problems(specs, {"v": value})

    assert list(problems) == ["variables.v"]
    assert f"type {type_name}" in problems["variables.v"][0]


@pytest.mark.parametrize(
    ("type_name", "value", "text"),
    [
        ("integer", 42, "42"),
        ("integer", -3, "-3"),
        ("number", 7, "7"),
        ("number", 2.5, "2.5"),
        ("boolean", False, "false"),
        ("array", [], "[]"),
        ("object", {}, "{}"),
    ],
)
def test_resolve_values__right_type__accepted_as_json_text(type_name, value, text):
    specs = parse_variables([{"name": "v", "type": type_name}])

    assert resolve_values(specs, {"v": value}) == {"v": text}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_resolve_values__number_not_finite__refused(value):
    specs = parse_variables([{"name": "v", "type": "number"}])

    problems = value_problems(specs, {"v": value})

    assert list(problems) == ["variables.v"]


def test_resolve_values__nan_for_number__message_does_not_contradict_itself():
    # "must be of type number, not number" tells the caller nothing they can fix
    specs = parse_variables([{"name": "v", "type": "number"}])

    message = value_problems(specs, {"v": math.nan})["variables.v"][0]

    assert "not number" not in message


def test_resolve_values__value_outside_enum__refused_listing_the_choices():
    specs = parse_variables([{"name": "tone", "enum": ["formal", "casual"]}])

    message = value_problems(specs, {"tone": "rude"})["variables.tone"][0]

    assert "formal" in message
    assert "casual" in message


def test_resolve_values__enum_equal_as_json__whole_float_matches_integer_choice():
    specs = parse_variables([{"name": "n", "type": "number", "enum": [1, 2.5]}])

    assert resolve_values(specs, {"n": 1.0}) == {"n": "1.0"}
    assert resolve_values(specs, {"n": 2.5}) == {"n": "2.5"}


def test_resolve_values__enum_of_booleans__only_the_listed_boolean():
    specs = parse_variables([{"name": "b", "type": "boolean", "enum": [True]}])

    assert resolve_values(specs, {"b": True}) == {"b": "true"}
    assert list(value_problems(specs, {"b": False})) == ["variables.b"]


def test_resolve_values__string_length__counts_characters_not_bytes():
    # Three characters, twelve bytes of UTF-8
    specs = parse_variables([{"name": "s", "minLength": 3, "maxLength": 3}])

    assert resolve_values(specs, {"s": "😀é漢"}) == {"s": "😀é漢"}
    assert list(value_problems(specs, {"s": "ab"})) == ["variables.s"]
    assert list(value_problems(specs, {"s": "abcd"})) == ["variables.s"]


def test_resolve_values__array_length__counts_items():
    specs = parse_variables([{"name": "xs", "type": "array", "minLength": 1, "maxLength": 2}])

    assert resolve_values(specs, {"xs": ["a", "b"]}) == {"xs": '["a", "b"]'}
    assert "items" in value_problems(specs, {"xs": []})["variables.xs"][0]
    assert list(value_problems(specs, {"xs": [1, 2, 3]})) == ["variables.xs"]


def test_resolve_values__range__bounds_are_inclusive():
    specs = parse_variables([{"name": "n", "type": "integer", "minimum": 1, "maximum": 5}])

    assert resolve_values(specs, {"n": 1}) == {"n": "1"}
    assert resolve_values(specs, {"n": 5}) == {"n": "5"}
    assert list(value_problems(specs, {"n": 0})) == ["variables.n"]
    assert list(value_problems(specs, {"n": 6})) == ["variables.n"]


def test_resolve_values__unanchored_pattern__matches_anywhere_like_json_schema():
    specs = parse_variables([{"name": "s", "pattern": "[0-9]{3}"}])

    assert resolve_values(specs, {"s": "order abc123def"}) == {"s": "order abc123def"}
    assert list(value_problems(specs, {"s": "12-3"})) == ["variables.s"]


def test_resolve_values__anchored_pattern__must_match_the_whole_value():
    specs = parse_variables([{"name": "s", "pattern": "^[0-9]{3}$"}])

    assert resolve_values(specs, {"s": "123"}) == {"s": "123"}
    message = value_problems(specs, {"s": "x123"})["variables.s"][0]
    assert "^[0-9]{3}$" in message


def test_resolve_values__anchored_pattern_and_trailing_newline__refused_like_json_schema():
    # In JSON Schema (ECMA-262) `$` is the end of the value; a value anchored to one word must not
    # smuggle a line break into the prompt
    specs = parse_variables([{"name": "word", "pattern": "^[a-z]+$"}])

    assert list(value_problems(specs, {"word": "abc\n"})) == ["variables.word"]


def test_resolve_values__catastrophic_pattern__cut_off_and_reported_instead_of_hanging():
    # Given a pattern with exponential backtracking on a near-miss value
    specs = parse_variables([{"name": "s", "pattern": "^(a+)+$"}])
    value = "a" * 5000 + "b"

    # When it is checked
    started = time.perf_counter()
    problems = value_problems(specs, {"s": value})
    elapsed = time.perf_counter() - started

    # Then the check gives up quickly and says why the value was refused
    assert elapsed < 2
    assert list(problems) == ["variables.s"]
    assert "in time" in problems["variables.s"][0]


# as_text


@pytest.mark.parametrize("value", ["plain", "", '{"already": "json"}', "{{x}}"])
def test_as_text__strings__unchanged(value):
    assert as_text(value) == value


@pytest.mark.parametrize(
    "value", [0, -7, 2.5, True, False, None, [1, "two", None], {"k": "v", "n": [1]}, ["é", "漢"], {"ключ": "значение"}]
)
def test_as_text__non_strings__json_that_reads_back_as_the_value(value):
    text = as_text(value)

    assert json.loads(text) == value


def test_as_text__non_ascii_inside_json__kept_as_characters_not_escapes():
    assert as_text(["é"]) == '["é"]'


def test_as_text__booleans__json_spelling():
    assert (as_text(True), as_text(False)) == ("true", "false")
