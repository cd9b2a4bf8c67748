"""Templates and versions over HTTP, as API.md describes them."""

from __future__ import annotations

import pytest

from lifecycle.testing.api import create_template_over_api as create
from lifecycle.testing.api import create_version_over_api as new_version
from lifecycle.testing.factories import TemplatePayloadFactory
from templates_app.models import PromptTemplate, TemplateVersion

pytestmark = pytest.mark.django_db


def test_create_template__readme_payload__201_with_first_version_active_in_development(api, author):
    # When an author posts the original README's payload
    body = create(api, author, name="Customer Support Response")
    # Then the template comes back with its first version, live in development only
    assert body["name"] == "Customer Support Response"
    assert body["category"] == "generation"
    assert sorted(body["tags"]) == ["customer-service", "support"]
    assert body["provider"] == "claude"
    assert body["latestVersion"]["version"] == "1.0.0"
    assert body["content"] == "Please respond to the customer inquiry: {{inquiry}}"
    assert body["modelConfig"] == {"model": "claude-sonnet", "temperature": 0.2, "maxTokens": 500}
    assert body["createdBy"] == author.username
    assert [v["version"] for v in body["versions"]] == ["1.0.0"]
    assert body["versions"][0]["changelog"] == "Initial version"
    assert body["activeVersions"]["development"]["versionId"] == body["latestVersion"]["id"]
    assert body["activeVersions"]["staging"] is None
    assert body["activeVersions"]["production"] is None
    assert "version" not in body["metadata"]  # the number lives on the version


def test_create_template__metadata_version__first_version_numbered_so(api, author):
    body = create(api, author, metadata={"version": "2.3.0"})
    assert body["latestVersion"]["version"] == "2.3.0"


def test_create_template__no_metadata_version__starts_at_1_0_0(api, author):
    body = create(api, author, metadata={})
    assert body["latestVersion"]["version"] == "1.0.0"


def test_create_template__chat_messages__stored_and_returned(api, author):
    messages = [
        {"role": "system", "content": "You answer for {{company}}."},
        {"role": "user", "content": "{{inquiry}}"},
    ]
    variables = [{"name": "company", "type": "string"}, {"name": "inquiry", "type": "string"}]
    body = create(api, author, content=None, messages=messages, variables=variables)
    assert body["messages"] == messages
    assert body["content"] is None


def test_create_template__duplicate_name_any_case__409_and_one_template(api, author):
    create(api, author, name="Summarizer")
    response = api.as_user(author).post("/api/templates", TemplatePayloadFactory(name="summarizer"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_name"
    assert PromptTemplate.objects.filter(name__iexact="summarizer").count() == 1


def test_create_template__undeclared_placeholder__400_saying_where(api, author):
    response = api.as_user(author).post(
        "/api/templates", TemplatePayloadFactory(content="Hello {{inquiry}}\nFrom {{ agent }}")
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"]["content"] == ["line 2, column 6: {{agent}} is not a declared variable"]
    assert PromptTemplate.objects.count() == 0


def test_create_template__unclosed_placeholder__400_saying_where(api, author):
    response = api.as_user(author).post("/api/templates", TemplatePayloadFactory(content="Answer {{inquiry"))
    assert response.status_code == 400
    assert "line 1, column 8" in response.json()["error"]["fields"]["content"][0]


def test_create_template__invalid_variable_schema__400_naming_the_path(api, author):
    variables = [{"name": "inquiry", "type": "string"}, {"name": "n", "type": "integer", "minimum": "one"}]
    response = api.as_user(author).post("/api/templates", TemplatePayloadFactory(variables=variables))
    assert response.status_code == 400
    assert "variables[1].minimum" in response.json()["error"]["fields"]


def test_create_template__without_author_role__403_and_nothing_written(api, reader):
    response = api.as_user(reader).post("/api/templates", TemplatePayloadFactory())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "author" in response.json()["error"]["message"]
    assert PromptTemplate.objects.count() == 0


def test_create_template__superuser__allowed(api, make_user):
    create(api, make_user(superuser=True))


def test_create_template__user_id_in_body__ignored_actor_is_caller(api, author):
    body = create(api, author, userId="someone-else")
    assert body["createdBy"] == author.username


def test_list_templates__filters_by_category_tag_and_search(api, author, reader):
    create(api, author, name="Ticket triage", category="classification", tags=["support"], description="Route")
    create(api, author, name="Release notes", category="generation", tags=["docs"], description="Summaries")
    create(api, author, name="Invoice fields", category="extraction", tags=["finance", "support"], description="x")

    def names(query):
        response = api.as_user(reader).get(f"/api/templates{query}")
        assert response.status_code == 200
        return sorted(item["name"] for item in response.json()["results"])

    assert names("") == ["Invoice fields", "Release notes", "Ticket triage"]
    assert names("?category=generation") == ["Release notes"]
    assert names("?tag=support") == ["Invoice fields", "Ticket triage"]
    assert names("?search=summar") == ["Release notes"]  # description, case-insensitive
    assert names("?search=TRIAGE") == ["Ticket triage"]  # name
    assert names("?tag=support&category=extraction") == ["Invoice fields"]


def test_list_templates__unknown_category__400(api, reader):
    response = api.as_user(reader).get("/api/templates?category=poetry")
    assert response.status_code == 400
    assert "category" in response.json()["error"]["fields"]


def test_list_templates__paginated_drf_style(api, author, reader):
    for index in range(3):
        create(api, author, name=f"T{index}")
    body = api.as_user(reader).get("/api/templates?pageSize=2").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None
    assert body["previous"] is None


def test_list_templates__query_count_does_not_grow_with_templates(api, author, reader, django_assert_max_num_queries):
    for index in range(3):
        create(api, author, name=f"A{index}")
    api.as_user(reader)
    with django_assert_max_num_queries(6) as few:
        api.get("/api/templates")
    queries_for_three = len(few.captured_queries)
    for index in range(12):
        create(api, author, name=f"B{index}")
    with django_assert_max_num_queries(queries_for_three):
        assert len(api.get("/api/templates").json()["results"]) == 15


def test_get_template__reader__latest_content_versions_and_active_per_environment(api, author, reader):
    created = create(api, author)
    new_version(api, author, created["id"], content="New text: {{inquiry}}")
    body = api.as_user(reader).get(f"/api/templates/{created['id']}").json()
    assert body["content"] == "New text: {{inquiry}}"
    assert [v["version"] for v in body["versions"]] == ["1.0.1", "1.0.0"]
    assert body["activeVersions"]["development"]["version"] == "1.0.1"


def test_create_version__content_only__patch_with_everything_else_carried_over(api, author):
    created = create(api, author)
    response = new_version(
        api, author, created["id"], content="Reply kindly: {{inquiry}}", metadata={"changelog": "tone"}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == "1.0.1"
    assert body["templateId"] == created["id"]
    assert body["variables"] == created["variables"]
    assert body["modelConfig"] == created["modelConfig"]
    assert body["provider"] == "claude"
    assert body["metadata"] == {"changelog": "tone"}
    assert body["status"] == "active"
    assert body["activeIn"] == ["development"]
    assert body["approvedFor"] == ["development"]
    assert body["changes"] == [{"level": "patch", "change": "content changed"}]


def test_create_version__optional_variable_added__minor(api, author):
    created = create(api, author)
    variables = [*created["variables"], {"name": "tone", "type": "string", "required": False, "default": "warm"}]
    response = new_version(api, author, created["id"], content="{{inquiry}} ({{tone}})", variables=variables)
    assert response.json()["version"] == "1.1.0"


def test_create_version__required_variable_added__major(api, author):
    created = create(api, author)
    variables = [*created["variables"], {"name": "customer", "type": "string"}]
    response = new_version(api, author, created["id"], content="{{customer}}: {{inquiry}}", variables=variables)
    assert response.json()["version"] == "2.0.0"


def test_create_version__model_settings_changed__minor(api, author):
    created = create(api, author)
    response = new_version(api, author, created["id"], content=created["content"], modelConfig={"temperature": 0.9})
    assert response.json()["version"] == "1.1.0"


def test_create_version__bump_asks_for_more__granted(api, author):
    created = create(api, author)
    response = new_version(api, author, created["id"], content="Other {{inquiry}}", bump="major")
    assert response.json()["version"] == "2.0.0"


def test_create_version__bump_asks_for_less__400_naming_data_bump(api, author):
    created = create(api, author)
    variables = [*created["variables"], {"name": "customer", "type": "string"}]
    response = new_version(
        api, author, created["id"], content="{{customer}} {{inquiry}}", variables=variables, bump="minor"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "data.bump" in error["fields"]
    assert "major" in error["fields"]["data.bump"][0]
    assert TemplateVersion.objects.filter(template_id=created["id"]).count() == 1


def test_create_version__identical_to_latest__409_and_nothing_written(api, author):
    created = create(api, author)
    response = new_version(api, author, created["id"], content=created["content"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "identical_version"
    assert TemplateVersion.objects.filter(template_id=created["id"]).count() == 1


def test_create_version__bad_placeholder__400_under_data(api, author):
    created = create(api, author)
    response = new_version(api, author, created["id"], content="Hi {{ 2fast }}")
    assert response.status_code == 400
    assert "data.content" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": {"content": "x"}}, "templateId"),
        ({"templateId": "nope", "data": {"content": "x"}}, "templateId"),
        ({"templateId": "00000000-0000-0000-0000-000000000000"}, "data"),
        ({"templateId": "00000000-0000-0000-0000-000000000000", "data": []}, "data"),
        ({"templateId": "00000000-0000-0000-0000-000000000000", "data": {"content": "x", "bump": "huge"}}, "data.bump"),
        ({"templateId": "00000000-0000-0000-0000-000000000000", "data": {"environment": "qa"}}, "data.environment"),
    ],
)
def test_create_version__malformed_body__400_naming_the_field(api, author, body, field):
    response = api.as_user(author).post("/api/versions/create", body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_create_version__unknown_template__404(api, author):
    response = new_version(api, author, "00000000-0000-0000-0000-000000000000", content="x")
    assert response.status_code == 404


def test_create_version__without_author_role__403(api, author, reader):
    created = create(api, author)
    response = new_version(api, reader, created["id"], content="Changed {{inquiry}}")
    assert response.status_code == 403
    assert TemplateVersion.objects.filter(template_id=created["id"]).count() == 1


def test_get_version__returns_the_version(api, author, reader):
    created = create(api, author)
    body = api.as_user(reader).get(f"/api/versions/{created['latestVersion']['id']}").json()
    assert body["version"] == "1.0.0"
    assert body["content"] == created["content"]
    assert body["createdBy"] == author.username


def test_paths__trailing_slash_also_accepted(api, author, reader):
    created = create(api, author)
    assert api.as_user(reader).get("/api/templates/").status_code == 200
    assert api.as_user(reader).get(f"/api/templates/{created['id']}/").status_code == 200


def test_create_template__unicode_everywhere__stored_and_read_back_by_every_endpoint(api, author, reader):
    # Names, text, tags and metadata in scripts and symbols an author may use
    body = create(
        api,
        author,
        name="Réponse client 客服 🤖",
        description="שלום — مرحبا — e\u0301",
        content="Réponds à {{question}} 🙂",
        variables=[{"name": "question", "description": "ça va?"}],
        tags=["français", "中文"],
        metadata={"author": "Zoë", "usageContext": ["ünïcödé"]},
    )
    api.as_user(reader)
    assert api.get(f"/api/templates/{body['id']}").json()["name"] == "Réponse client 客服 🤖"
    assert api.get("/api/templates?tag=中文").json()["count"] == 1
    assert api.get(f"/api/templates/{body['id']}/history").status_code == 200
    rendered = api.post(
        f"/api/templates/{body['id']}/render", {"environment": "development", "variables": {"question": "😀"}}
    ).json()
    assert rendered["rendered"] == "Réponds à 😀 🙂"


@pytest.mark.parametrize(("first", "second"), [("École", "école"), ("STRASSE", "straße"), ("Summary", " summary ")])
def test_create_template__same_name_in_another_case__409_on_every_database(api, author, first, second):
    create(api, author, name=first)
    response = api.as_user(author).post("/api/templates", TemplatePayloadFactory(name=second))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_name"


def test_create_template__integer_rule_beyond_float_range__accepted_and_checked(api, author, reader):
    huge = 10**400
    body = create(api, author, content="{{n}}", variables=[{"name": "n", "type": "integer", "maximum": huge}])
    response = api.as_user(reader).post(
        f"/api/templates/{body['id']}/render", {"environment": "development", "variables": {"n": huge + 1}}
    )
    assert response.status_code == 400
