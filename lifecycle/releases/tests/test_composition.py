"""Composition over the API (issue 14): prompts built from other templates' versions, resolved and pinned at
creation, flattened for review and serving, refreshed only through a new version of the including prompt."""

from __future__ import annotations

from typing import Any

import pytest

from abtesting.services import create_test, start_test
from lifecycle.releases.services import deploy_version, initiate_rollback
from lifecycle.testing.api import create_template_over_api, create_version_over_api
from lifecycle.testing.workflow import approve_for
from templates_app.models import TemplateVersion, VersionInclude
from templates_app.services import update_template

pytestmark = pytest.mark.django_db

STYLE_V1 = "Answer politely, in plain words, in {{language}}."
STYLE_V2 = "Answer politely and briefly, in plain words, in {{language}}."
LANGUAGE = {"name": "language", "type": "string", "required": False, "default": "English"}


class Parts:
    """Shared parts as an author makes them and a deployer puts them in production."""

    def __init__(self, api: Any, author: Any, reviewers: dict[str, Any], deployer: Any) -> None:
        self.api, self.author, self.reviewers, self.deployer = api, author, reviewers, deployer

    def template(self, name: str, content: str, variables: list[dict[str, Any]] | None = None, **more: Any) -> dict:
        return create_template_over_api(
            self.api, self.author, name=name, content=content, variables=variables or [], metadata={}, **more
        )

    def version(self, template: dict, content: str, **data: Any) -> dict:
        response = create_version_over_api(self.api, self.author, template["id"], content=content, **data)
        assert response.status_code == 201, response.json()
        return response.json()

    def refresh(self, template_id: str) -> Any:
        """POST /api/versions/create with refreshIncludes, as the author: the response."""
        return self.api.as_user(self.author).post(
            "/api/versions/create", {"templateId": template_id, "refreshIncludes": True}
        )

    def to_production(self, version_id: str) -> None:
        version = TemplateVersion.objects.get(pk=version_id)
        approve_for(version, "production", self.reviewers)
        deploy_version(actor=self.deployer, version_id=version.pk, environment="production")


@pytest.fixture
def parts(api, author, reviewers, deployer) -> Parts:
    return Parts(api, author, reviewers, deployer)


@pytest.fixture
def house_style(parts) -> dict:
    """`house-style` 1.0.0, in production."""
    created = parts.template("house-style", STYLE_V1, [LANGUAGE])
    parts.to_production(created["latestVersion"]["id"])
    return created


def prompt_with(parts: Parts, content: str, **more: Any) -> Any:
    return parts.api.as_user(parts.author).post(
        "/api/templates",
        {
            "name": more.pop("name", "support-reply"),
            "content": content,
            "variables": more.pop("variables", [{"name": "inquiry", "type": "string", "required": True}]),
            **more,
        },
    )


def problem_of(response: Any) -> str:
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["fields"]
    return " | ".join(message for messages in fields.values() for message in messages)


def test_create__unpinned_part__production_version_spliced_and_pinned(api, parts, house_style, reader):
    parts.version(house_style, STYLE_V2)  # newer, but only in development: production serves 1.0.0
    response = prompt_with(parts, "{{> house-style}}\n\nCustomer: {{inquiry}}")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["content"] == f"{STYLE_V1}\n\nCustomer: {{{{inquiry}}}}"
    assert [variable["name"] for variable in body["variables"]] == ["inquiry", "language"]
    version = api.as_user(reader).get(f"/api/versions/{body['latestVersion']['id']}").json()
    assert version["source"]["content"] == "{{> house-style}}\n\nCustomer: {{inquiry}}"
    assert version["source"]["environment"] == "production"
    assert [(part["name"], part["version"], part["reference"]) for part in version["includes"]] == [
        ("house-style", "1.0.0", "house-style")
    ]
    assert (
        version["includes"][0]["fingerprint"]
        == TemplateVersion.objects.get(pk=house_style["latestVersion"]["id"]).fingerprint
    )


def test_create__unpinned_part_in_named_environment__that_environment_version(parts, house_style):
    parts.version(house_style, STYLE_V2)  # active in development
    response = prompt_with(parts, "{{> house-style}} {{inquiry}}", environment="development")
    assert response.status_code == 201, response.json()
    assert response.json()["content"].startswith("Answer politely and briefly")


def test_create__pinned_part__that_version_whatever_is_active(parts, house_style):
    parts.version(house_style, STYLE_V2)
    response = prompt_with(parts, "{{>house-style@1.0.1}} {{inquiry}}")
    assert response.status_code == 201, response.json()
    assert response.json()["content"].startswith("Answer politely and briefly")


def test_create__text_part_in_chat_message__spliced_into_that_message(parts, house_style):
    response = prompt_with(
        parts,
        None,
        messages=[{"role": "system", "content": "{{> house-style}}"}, {"role": "user", "content": "{{inquiry}}"}],
    )
    assert response.status_code == 201, response.json()
    assert response.json()["messages"] == [
        {"role": "system", "content": STYLE_V1},
        {"role": "user", "content": "{{inquiry}}"},
    ]


def test_create__escaped_reference__literal_text_not_an_include(parts, house_style):
    response = prompt_with(parts, "Write \\{{> house-style}} literally. {{inquiry}}")
    assert response.status_code == 201, response.json()
    assert not VersionInclude.objects.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Hi {{inquiry}}\n  {{> nowhere}}", "line 2, column 3: {{> nowhere}}: there is no template named 'nowhere'"),
        ("{{> house-style@9.9.9}} {{inquiry}}", "{{> house-style@9.9.9}}: 'house-style' has no version 9.9.9"),
        ("{{> house-style@1.x}} {{inquiry}}", "line 1, column 1: '1.x' is not a version"),
        ("{{> }} {{inquiry}}", "line 1, column 1: names no template"),
        ("{{> house-style {{inquiry}}", "line 1, column 1: '{{>' is not closed by '}}'"),
        (
            " ".join(["{{> house-style@1.0.0}}"] * 51) + " {{inquiry}}",
            "line 1, column 1201: {{> house-style@1.0.0}}: a version may include at most 50 parts",
        ),
    ],
)
def test_create__broken_reference__400_naming_it_and_nothing_stored(parts, house_style, content, expected):
    before = TemplateVersion.objects.count()
    assert expected in problem_of(prompt_with(parts, content))
    assert TemplateVersion.objects.count() == before


def test_create__part_with_nothing_active_where_asked__400(parts):
    parts.template("draft-part", "Only in development.")
    assert "'draft-part' has no version active in production" in problem_of(prompt_with(parts, "{{> draft-part}}"))


def test_create__chat_part__400(parts, house_style):
    chat = parts.template("chat-part", None, messages=[{"role": "system", "content": "Be kind."}])
    parts.to_production(chat["latestVersion"]["id"])
    assert "'chat-part' is a chat template" in problem_of(prompt_with(parts, "{{> chat-part}} {{inquiry}}"))


def test_create__part_declares_variable_differently__400(parts, house_style):
    response = prompt_with(
        parts,
        "{{> house-style}} {{language}}",
        variables=[{"name": "language", "type": "string", "required": True}],
    )
    assert "'language' is declared by this version as" in problem_of(response)


def test_create__same_variable_declared_alike__joined_once(parts, house_style):
    response = prompt_with(parts, "{{> house-style}} {{language}}", variables=[LANGUAGE])
    assert response.status_code == 201, response.json()
    assert [variable["name"] for variable in response.json()["variables"]] == ["language"]


def test_version__template_includes_itself__400(parts, house_style):
    response = create_version_over_api(parts.api, parts.author, house_style["id"], content="{{> house-style@1.0.0}}")
    assert "a template cannot include itself" in problem_of(response)


def test_version__part_includes_this_template__400_cycle(parts, house_style):
    wrapper = parts.template("wrapper", "Intro. {{> house-style@1.0.0}}")
    response = create_version_over_api(
        parts.api, parts.author, house_style["id"], content=f"{{{{> wrapper@{wrapper['latestVersion']['version']}}}}}"
    )
    assert "'wrapper' 1.0.0 includes this template: a cycle" in problem_of(response)


def test_create__nesting_deeper_than_limit__400(parts, house_style):
    parts.template("level-1", "One. {{> house-style@1.0.0}}")
    parts.template("level-2", "Two. {{> level-1@1.0.0}}")
    parts.template("level-3", "Three. {{> level-2@1.0.0}}")  # three levels of parts: the limit
    assert "at most 3 are allowed" in problem_of(prompt_with(parts, "{{> level-3@1.0.0}} {{inquiry}}"))
    response = prompt_with(parts, "{{> level-2@1.0.0}} {{inquiry}}", name="within-limit")
    assert response.status_code == 201, response.json()
    assert response.json()["content"] == f"Two. One. {STYLE_V1} {{{{inquiry}}}}"


def test_render_and_resolve__composed__flattened_text_and_parts_listed(api, parts, house_style, integration):
    created = prompt_with(parts, "{{> house-style}}\nCustomer: {{inquiry}}").json()
    parts.to_production(created["latestVersion"]["id"])
    rendered = api.as_user(integration).post(
        f"/api/templates/{created['id']}/render", {"variables": {"inquiry": "Where is my order?", "language": "French"}}
    )
    assert rendered.status_code == 200, rendered.json()
    assert rendered.json()["rendered"] == ("Answer politely, in plain words, in French.\nCustomer: Where is my order?")
    resolved = api.as_user(integration).get(f"/api/templates/{created['id']}/resolve").json()
    assert resolved["content"] == created["content"]
    assert [(part["name"], part["version"], part["versionId"]) for part in resolved["includes"]] == [
        ("house-style", "1.0.0", house_style["latestVersion"]["id"])
    ]


def test_new_part_version__changes_no_prompt__shows_as_update_available(api, parts, house_style, reader):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    newer = parts.version(house_style, STYLE_V2)
    parts.to_production(newer["id"])
    detail = api.as_user(reader).get(f"/api/templates/{prompt['id']}").json()
    assert detail["content"].startswith("Answer politely, in plain")  # unchanged
    assert detail["latestVersion"]["version"] == "1.0.0"
    [update] = detail["updatesAvailable"]
    assert (update["name"], update["includedVersion"], update["availableVersion"], update["pinned"]) == (
        "house-style",
        "1.0.0",
        "1.0.1",
        False,
    )
    assert update["environment"] == "production"


def test_refresh_includes__next_version_with_part_updated_and_diff_names_it(api, parts, house_style, reader):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    parts.to_production(parts.version(house_style, STYLE_V2)["id"])
    response = parts.refresh(prompt["id"])
    assert response.status_code == 201, response.json()
    refreshed = response.json()
    assert refreshed["version"] == "1.0.1"  # the text changed: a patch
    assert refreshed["content"] == f"{STYLE_V2} {{{{inquiry}}}}"
    assert refreshed["source"]["content"] == "{{> house-style}} {{inquiry}}"
    diff = api.as_user(reader).get(f"/api/versions/{refreshed['id']}/diff").json()
    assert "-Answer politely, in plain words" in diff["diff"]
    assert "+Answer politely and briefly" in diff["diff"]
    assert [(part["name"], part["from"], part["to"]) for part in diff["parts"]] == [("house-style", "1.0.0", "1.0.1")]
    assert api.as_user(reader).get(f"/api/templates/{prompt['id']}").json()["updatesAvailable"] == []
    again = parts.refresh(prompt["id"])
    assert again.status_code == 409
    assert "nothing to refresh" in again.json()["error"]["message"]


def test_refresh_includes__pinned_reference_rewritten_to_newest_version(api, parts, house_style):
    prompt = prompt_with(parts, "{{> house-style@1.0.0}} {{inquiry}}").json()
    parts.version(house_style, STYLE_V2)  # 1.0.1, in development only: pinned references take the newest
    assert api.as_user(parts.author).get(f"/api/templates/{prompt['id']}").json()["updatesAvailable"][0]["pinned"]
    refreshed = parts.refresh(prompt["id"]).json()
    assert refreshed["source"]["content"] == "{{> house-style@1.0.1}} {{inquiry}}"
    assert refreshed["content"].startswith("Answer politely and briefly")


def test_refresh_includes__part_adds_required_variable__major_version(api, parts, house_style):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    newer = parts.version(
        house_style, "In {{language}}, sign as {{agent}}.", variables=[LANGUAGE, {"name": "agent", "type": "string"}]
    )
    parts.to_production(newer["id"])
    refreshed = parts.refresh(prompt["id"]).json()
    assert refreshed["version"] == "2.0.0"
    assert {variable["name"] for variable in refreshed["variables"]} == {"inquiry", "language", "agent"}


def test_version_without_data_or_refresh__400(api, parts, house_style):
    response = api.as_user(parts.author).post("/api/versions/create", {"templateId": house_style["id"]})
    assert response.status_code == 400
    assert "data" in response.json()["error"]["fields"]


def test_new_version_with_new_text__own_variables_carried_parts_variables_from_parts(api, parts, house_style):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    response = create_version_over_api(api, parts.author, prompt["id"], content="Hello. {{> house-style}} {{inquiry}}")
    assert response.status_code == 201, response.json()
    assert response.json()["version"] == "1.0.1"
    assert response.json()["source"]["variables"] == [{"name": "inquiry", "type": "string", "required": True}]


def test_dependents__per_environment_with_included_version_and_path(api, parts, house_style, reader):
    direct = prompt_with(parts, "{{> house-style}} {{inquiry}}", name="direct").json()
    parts.to_production(direct["latestVersion"]["id"])
    parts.template("wrapper", "Intro. {{> house-style@1.0.0}}")
    nested = prompt_with(parts, "{{> wrapper@1.0.0}} {{inquiry}}", name="nested").json()
    body = api.as_user(reader).get(f"/api/templates/{house_style['id']}/dependents").json()
    by_environment = {item["environment"]: item["dependents"] for item in body["environments"]}
    assert [(d["name"], d["version"], d["includedVersion"], d["via"]) for d in by_environment["production"]] == [
        ("direct", "1.0.0", "1.0.0", [])
    ]
    assert [(d["name"], d["via"]) for d in by_environment["development"]] == [
        ("direct", []),
        ("nested", ["wrapper"]),
        ("wrapper", []),
    ]
    assert by_environment["staging"] == []
    assert {d["name"] for d in body["latest"]} == {"direct", "nested", "wrapper"}
    assert nested["content"] == f"Intro. {STYLE_V1} {{{{inquiry}}}}"


def test_dependents__nobody_includes_it__empty_lists(api, parts, house_style, reader):
    body = api.as_user(reader).get(f"/api/templates/{house_style['id']}/dependents").json()
    assert body["latest"] == []
    assert all(item["dependents"] == [] for item in body["environments"])
    assert api.as_user(reader).get("/api/templates/00000000-0000-0000-0000-000000000000/dependents").status_code == 404


def test_approval_request_of_part__shows_its_dependents(api, parts, house_style, workflow, reader):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    parts.to_production(prompt["latestVersion"]["id"])
    newer = parts.version(house_style, STYLE_V2)
    submitted = workflow.submit(parts.author, TemplateVersion.objects.get(pk=newer["id"])).json()
    detail = api.as_user(reader).get(f"/api/approval/requests/{submitted['id']}").json()
    production = next(item for item in detail["dependents"]["environments"] if item["environment"] == "production")
    assert [(d["name"], d["includedVersion"]) for d in production["dependents"]] == [("support-reply", "1.0.0")]


def test_rollback__restores_flattened_content_that_was_live(api, parts, house_style, deployer, integration):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    parts.to_production(prompt["latestVersion"]["id"])
    parts.to_production(parts.version(house_style, STYLE_V2)["id"])
    refreshed = parts.refresh(prompt["id"]).json()
    parts.to_production(refreshed["id"])

    def rendered() -> str:
        return (
            api.as_user(integration)
            .post(f"/api/templates/{prompt['id']}/render", {"variables": {"inquiry": "Hi"}})
            .json()["rendered"]
        )

    assert rendered() == "Answer politely and briefly, in plain words, in English. Hi"
    initiate_rollback(
        actor=deployer,
        current_version_id=refreshed["id"],
        target_version_id=prompt["latestVersion"]["id"],
        reason="the shorter style confuses customers",
    )
    assert rendered() == "Answer politely, in plain words, in English. Hi"


def test_abtest__variants_are_composed_versions__each_subject_gets_its_variant_text(
    api, parts, house_style, deployer, integration
):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    parts.to_production(prompt["latestVersion"]["id"])
    parts.to_production(parts.version(house_style, STYLE_V2)["id"])
    refreshed = parts.refresh(prompt["id"]).json()
    approve_for(TemplateVersion.objects.get(pk=refreshed["id"]), "production", parts.reviewers)
    test = create_test(
        actor=deployer,
        name="shorter house style",
        variants=[
            {"id": "control", "template_version_id": prompt["latestVersion"]["id"], "traffic_percentage": 50},
            {"id": "brief", "template_version_id": refreshed["id"], "traffic_percentage": 50},
        ],
    )
    start_test(actor=deployer, test_id=test.pk)
    texts = {
        "control": "Answer politely, in plain words, in English. Hi",
        "brief": "Answer politely and briefly, in plain words, in English. Hi",
    }
    seen = set()
    for subject in range(40):
        body = (
            api.as_user(integration)
            .post(
                f"/api/templates/{prompt['id']}/render",
                {"variables": {"inquiry": "Hi"}, "subjectId": f"user-{subject}"},
            )
            .json()
        )
        assert body["rendered"] == texts[body["variantId"]]
        seen.add(body["variantId"])
    assert seen == {"control", "brief"}


def test_part_changes_later__including_version_never_changes(api, parts, house_style, reader):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    version_id = prompt["latestVersion"]["id"]
    before = api.as_user(reader).get(f"/api/versions/{version_id}").json()
    parts.to_production(parts.version(house_style, STYLE_V2)["id"])
    after = api.as_user(reader).get(f"/api/versions/{version_id}").json()
    assert (after["content"], after["includes"]) == (before["content"], before["includes"])


def test_including_another_authors_template__read_access_suffices(api, parts, house_style, make_user):
    other = make_user("author", username="bea")
    response = api.as_user(other).post(
        "/api/templates",
        {"name": "bea-prompt", "content": "{{> house-style}} {{inquiry}}", "variables": [{"name": "inquiry"}]},
    )
    assert response.status_code == 201, response.json()


def test_refresh_includes__part_renamed_since__found_and_reference_follows_the_new_name(api, parts, house_style):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    update_template(actor=parts.author, template_id=house_style["id"], name="acme-style")
    parts.to_production(parts.version(house_style, STYLE_V2)["id"])
    refreshed = parts.refresh(prompt["id"])
    assert refreshed.status_code == 201, refreshed.json()
    assert refreshed.json()["source"]["content"] == "{{> acme-style}} {{inquiry}}"
    assert refreshed.json()["content"] == f"{STYLE_V2} {{{{inquiry}}}}"


# What a review of the first version of composition found (each failed before its fix).


@pytest.mark.parametrize("odd", ["oops", [1], 7, None])
def test_create__a_message_is_not_an_object__400_not_500(parts, house_style, odd):
    response = prompt_with(parts, None, messages=[odd, {"role": "user", "content": "{{> house-style}} {{inquiry}}"}])
    assert "must be an object with role and content" in problem_of(response)


def test_create__megabyte_of_references__400_on_length(parts, house_style):
    response = prompt_with(parts, "{{>a}}" * 170_000)
    assert "must be at most 200000 characters" in problem_of(response)


def test_create__part_ending_in_backslash_before_placeholder__400_instead_of_escaping_it(parts, api, integration):
    slash = parts.template("slash", "Path: C:\\")
    parts.to_production(slash["latestVersion"]["id"])
    assert "a part changes its placeholders" in problem_of(prompt_with(parts, "{{> slash}}{{inquiry}}"))
    response = prompt_with(parts, "{{> slash}} {{inquiry}}")  # a space between: the backslash stays literal
    assert response.status_code == 201, response.json()
    rendered = api.as_user(integration).post(
        f"/api/templates/{response.json()['id']}/render", {"environment": "development", "variables": {"inquiry": "X"}}
    )
    assert rendered.json()["rendered"] == "Path: C:\\ X"


def test_create__brace_on_each_side_of_a_join__400(parts):
    brace = parts.template("brace", "{inquiry}} is literal here")
    parts.to_production(brace["latestVersion"]["id"])
    assert "a part changes its placeholders" in problem_of(prompt_with(parts, "{{{> brace}} {{inquiry}}"))


def test_create__undeclared_placeholder_after_a_reference__position_in_the_authors_text(parts, house_style):
    response = prompt_with(parts, "{{> house-style}} {{undeclared}}\n  {{inquiry}} {{other}}")
    problem = problem_of(response)
    assert "line 1, column 19: {{undeclared}} is not a declared variable" in problem
    assert "line 2, column 15: {{other}} is not a declared variable" in problem
    response = prompt_with(parts, "{{> house-style}}\n  {{ bad-name }} {{inquiry}}")
    assert "line 2, column 3: malformed placeholder" in problem_of(response)


def test_create__template_name_with_at_sign__included_unpinned_and_pinned(parts):
    team = parts.template("team@acme", "Hello from the team.")
    parts.to_production(team["latestVersion"]["id"])
    unpinned = prompt_with(parts, "{{> team@acme}} {{inquiry}}")
    pinned = prompt_with(parts, "{{> team@acme@1.0.0}} {{inquiry}}", name="pinned")
    assert (unpinned.status_code, pinned.status_code) == (201, 201)
    assert unpinned.json()["content"] == pinned.json()["content"] == "Hello from the team. {{inquiry}}"


def test_create__same_variable_rule_written_as_1_or_1_0__joined(parts):
    counted = parts.template("counted", "{{count}} items", [{"name": "count", "type": "number", "minimum": 1}])
    parts.to_production(counted["latestVersion"]["id"])
    response = prompt_with(
        parts, "{{> counted}} {{count}}", variables=[{"name": "count", "type": "number", "minimum": 1.0}]
    )
    assert response.status_code == 201, response.json()


def test_new_version__no_environment_named__parts_from_where_the_latest_took_them(api, parts, house_style):
    parts.version(house_style, STYLE_V2)  # 1.0.1, development only
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}", environment="development").json()
    response = create_version_over_api(api, parts.author, prompt["id"], content="Hi. {{> house-style}} {{inquiry}}")
    assert response.status_code == 201, response.json()
    assert response.json()["content"] == f"Hi. {STYLE_V2} {{{{inquiry}}}}"
    assert response.json()["source"]["environment"] == "development"


def test_refresh_includes__nothing_included__409_saying_so(api, parts, house_style):
    response = parts.refresh(house_style["id"])
    assert response.status_code == 409
    assert "includes no other template: nothing to refresh" in response.json()["error"]["message"]


def test_diff__same_part_included_twice__each_occurrence_compared(api, parts, house_style, reader):
    parts.version(house_style, STYLE_V2)
    prompt = prompt_with(parts, "{{> house-style@1.0.0}} {{> house-style@1.0.1}} {{inquiry}}").json()
    newer = create_version_over_api(api, parts.author, prompt["id"], content="{{> house-style@1.0.1}} {{inquiry}}")
    diff = api.as_user(reader).get(f"/api/versions/{newer.json()['id']}/diff").json()
    assert [(part["from"], part["to"]) for part in diff["parts"]] == [("1.0.0", "1.0.1"), ("1.0.1", None)]


def test_refresh_includes__renamed_part__positions_recorded_in_the_rewritten_text(api, parts, house_style):
    prompt = prompt_with(parts, "{{> house-style}} and {{> house-style}} {{inquiry}}").json()
    update_template(actor=parts.author, template_id=house_style["id"], name="s")
    parts.to_production(parts.version(house_style, STYLE_V2)["id"])
    refreshed = parts.refresh(prompt["id"]).json()
    assert refreshed["source"]["content"] == "{{> s}} and {{> s}} {{inquiry}}"
    assert list(VersionInclude.objects.filter(version_id=refreshed["id"]).values_list("line", "column")) == [
        (1, 1),
        (1, 13),
    ]


def test_dependents__more_including_versions_than_a_statement_takes_parameters__200(
    api, parts, house_style, reader, parameter_limit
):
    prompt = prompt_with(parts, "{{> house-style}} {{inquiry}}").json()
    for number in range(60):
        parts.version(prompt, f"Take {number}: {{{{> house-style}}}} {{{{inquiry}}}}")
    parameter_limit(50)
    body = api.as_user(reader).get(f"/api/templates/{house_style['id']}/dependents").json()
    assert [(d["name"], d["version"]) for d in body["latest"]] == [("support-reply", "1.0.60")]
