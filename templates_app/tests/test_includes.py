"""Include references (`{{> name}}`, `{{> name@1.2.0}}`): found with their positions, broken ones named at
their line and column, and spliced literally (issue 14: not wired into version creation yet)."""

from __future__ import annotations

import pytest

from templates_app.includes import IncludeError, find_includes, splice
from templates_app.semver import SemVer


def test_find_includes__pinned_and_unpinned__names_versions_and_positions():
    text = "Be kind.\n{{> house-style@2.1.0}} then {{>  Safety Preamble  }}\n{{name}}"
    pinned, unpinned = find_includes(text)
    assert (pinned.name, pinned.version, pinned.line, pinned.column) == ("house-style", SemVer(2, 1, 0), 2, 1)
    assert text[pinned.start : pinned.end] == "{{> house-style@2.1.0}}"
    assert (unpinned.name, unpinned.version, unpinned.line, unpinned.column) == ("Safety Preamble", None, 2, 30)
    assert (pinned.written, unpinned.written) == ("house-style@2.1.0", "Safety Preamble")


def test_find_includes__escaped_and_placeholders__not_references():
    assert find_includes("\\{{> house-style}} and {{name}} and }} and {{ other }}") == ()


@pytest.mark.parametrize(
    ("text", "line", "column", "problem"),
    [
        ("ok\n  {{> house-style", 2, 3, "not closed"),
        ("{{> house-style {{name}} }}", 1, 1, "not closed"),
        ("{{>   }}", 1, 1, "names no template"),
        ("{{> @1.0.0}}", 1, 1, "names no template"),
        ("{{> house-style@1.2}}", 1, 1, "'1.2' is not a version"),
        ("{{> house-style@v1.2.3}}", 1, 1, "is not a version"),
        ("{{> house-style@}}", 1, 1, "is not a version"),
        ("x {{> " + "n" * 201 + "}}", 1, 3, "at most 200 characters"),
    ],
)
def test_find_includes__broken_reference__error_at_its_line_and_column(text, line, column, problem):
    with pytest.raises(IncludeError) as caught:
        find_includes(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert problem in caught.value.problem


def test_splice__each_reference_replaced_by_its_part_as_is():
    text = "A {{> one}} B {{> two@1.0.0}} C"
    one, two = find_includes(text)
    # The parts' own placeholders and escapes are kept: they become the including version's
    spliced = splice(text, (one, two), {one: "[{{tone}}]", two: "[\\{{literal}}]"})
    assert spliced == "A [{{tone}}] B [\\{{literal}}] C"


def test_splice__no_references__the_text_unchanged():
    assert splice("plain {{x}}", (), {}) == "plain {{x}}"


def test_find_includes__limit__stops_after_one_more_than_the_limit():
    assert len(find_includes("{{>a}}" * 1000, limit=50)) == 51
