"""Placeholder syntax: what authors may write in a prompt's text, and where a broken placeholder is reported."""

import pytest
from promptrender.placeholders import PlaceholderError, parse_text


def test_parse_text__plain_text__one_literal_piece_and_no_names():
    parsed = parse_text("Summarize the ticket.")

    assert parsed.pieces == ("Summarize the ticket.",)
    assert parsed.names == frozenset()
    assert parsed.placements == ()


def test_parse_text__one_placeholder__split_into_literal_name_literal():
    parsed = parse_text("Hello {{name}}, welcome.")

    assert parsed.pieces == ("Hello ", "name", ", welcome.")
    assert parsed.names == {"name"}


def test_parse_text__placeholders_at_both_ends__empty_literals_keep_names_at_odd_positions():
    parsed = parse_text("{{a}}{{b}}")

    assert parsed.pieces == ("", "a", "", "b", "")
    assert parsed.names == {"a", "b"}


def test_parse_text__same_name_twice__both_occurrences_kept_and_named_once():
    parsed = parse_text("{{x}} and {{x}}")

    assert parsed.pieces == ("", "x", " and ", "x", "")
    assert parsed.names == {"x"}
    assert [name for name, _, _ in parsed.placements] == ["x", "x"]


@pytest.mark.parametrize("text", ["{{ name }}", "{{name }}", "{{  name}}", "{{\tname\t}}", "{{\nname\n}}"])
def test_parse_text__whitespace_inside_braces__allowed_and_trimmed(text):
    parsed = parse_text(text)

    assert parsed.pieces == ("", "name", "")


@pytest.mark.parametrize("name", ["a", "_", "_private", "snake_case", "CamelCase", "x1", "A_9_b"])
def test_parse_text__valid_names__accepted(name):
    parsed = parse_text("{{" + name + "}}")

    assert parsed.names == {name}


def test_parse_text__placements__one_based_line_and_column_of_each_opening_brace():
    # Given a placeholder on line 1 column 7 and one on line 3 column 3
    text = "Hello {{first}}\nsecond line\n  {{second}}"

    parsed = parse_text(text)

    assert parsed.placements == (("first", 1, 7), ("second", 3, 3))


def test_parse_text__escaped_opening_braces__literal_braces_without_the_backslash():
    parsed = parse_text(r"Write \{{name}} to show a placeholder")

    assert parsed.pieces == ("Write {{name}} to show a placeholder",)
    assert parsed.names == frozenset()


def test_parse_text__escaped_braces_before_a_real_placeholder__only_the_real_one_is_a_name():
    parsed = parse_text(r"\{{literal}} then {{real}}")

    assert parsed.pieces == ("{{literal}} then ", "real", "")
    assert parsed.placements == (("real", 1, 19),)


def test_parse_text__escaped_braces_never_closed__literal_text_not_an_error():
    parsed = parse_text(r"Templates look like \{{ this")

    assert parsed.pieces == ("Templates look like {{ this",)


@pytest.mark.parametrize(
    "text",
    [
        '{"answer": {"text": "...", "score": 1}}',
        'Reply with JSON like {"a": [{"b": 2}]}',
        "a lone }} closing pair",
        "}}",
        "}}}}",
        "single { and } braces",
    ],
)
def test_parse_text__lone_closing_braces_and_json__plain_text(text):
    parsed = parse_text(text)

    assert parsed.pieces == (text,)


def test_parse_text__placeholder_inside_json__closing_brace_after_it_stays_text():
    # Given a prompt that quotes JSON with a placeholder as a value: `{{v}}}` is the placeholder then a `}`
    parsed = parse_text('{"key": {{value}}}')

    assert parsed.pieces == ('{"key": ', "value", "}")


def test_parse_text__lone_closing_braces_before_a_placeholder__text_then_the_placeholder():
    parsed = parse_text("}} {{x}}")

    assert parsed.pieces == ("}} ", "x", "")


def test_parse_text__unclosed_at_start__error_at_line_1_column_1():
    with pytest.raises(PlaceholderError) as caught:
        parse_text("{{name and no end")

    assert (caught.value.line, caught.value.column) == (1, 1)
    assert "not closed" in caught.value.problem


def test_parse_text__unclosed_on_a_later_line__error_points_at_its_opening_braces():
    # Given a valid first placeholder and an unclosed one on line 3, column 5
    text = "Hi {{a}}\n\nabc {{b\nmore text"

    with pytest.raises(PlaceholderError) as caught:
        parse_text(text)

    assert (caught.value.line, caught.value.column) == (3, 5)
    assert str(caught.value).startswith("line 3, column 5: ")


def test_parse_text__opening_braces_before_closing_of_the_first__first_is_reported_unclosed():
    # `{{a {{b}}`: the first `{{` has no `}}` of its own
    with pytest.raises(PlaceholderError) as caught:
        parse_text("x {{a {{b}}")

    assert (caught.value.line, caught.value.column) == (1, 3)
    assert "not closed" in caught.value.problem


def test_parse_text__unclosed_error__tells_how_to_write_literal_braces():
    with pytest.raises(PlaceholderError) as caught:
        parse_text("{{")

    assert "\\{{" in caught.value.problem


@pytest.mark.parametrize(
    "placeholder",
    ["{{}}", "{{   }}", "{{1abc}}", "{{a b}}", "{{a-b}}", "{{a.b}}", "{{na$me}}", "{{ é }}", "{{x|upper}}"],
)
def test_parse_text__malformed_placeholder__error_names_it_and_where_it_is(placeholder):
    text = "line one\nsay " + placeholder + " now"

    with pytest.raises(PlaceholderError) as caught:
        parse_text(text)

    assert (caught.value.line, caught.value.column) == (2, 5)
    assert "malformed placeholder" in caught.value.problem
    assert placeholder in caught.value.problem


def test_parse_text__very_long_malformed_placeholder__shown_shortened():
    body = "not a name " * 10
    with pytest.raises(PlaceholderError) as caught:
        parse_text("{{" + body + "}}")

    assert body not in caught.value.problem
    assert "..." in caught.value.problem


def test_parse_text__column_after_escapes__counted_in_the_text_as_written():
    # The backslash of the escape is a character of the source, so `{{b` starts at column 8
    with pytest.raises(PlaceholderError) as caught:
        parse_text(r"\{{a}} {{b")

    assert (caught.value.line, caught.value.column) == (1, 8)


def test_parse_text__literal_pieces_joined__give_back_the_text_around_the_placeholders():
    # Rendering joins pieces with values; with each name written back as `{{name}}` the text is unchanged
    text = "A: {{a}}\nB: {{b}}\n}} end"

    parsed = parse_text(text)

    rebuilt = "".join(piece if i % 2 == 0 else "{{" + piece + "}}" for i, piece in enumerate(parsed.pieces))
    assert rebuilt == text
