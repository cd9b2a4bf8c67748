"""Writes to templates and versions: roles, numbering, refusals that write nothing, immutability and audit."""

import uuid
from functools import partial

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group

from lifecycle.core.exceptions import InvalidInput, PermissionDenied
from lifecycle.testing import factories
from lifecycle.testing.concurrency import at_once
from templates_app.exceptions import DuplicateTemplateName, IdenticalVersion, TemplateNotFound
from templates_app.models import ImmutableVersion, PromptTemplate, TemplateVersion
from templates_app.semver import Bump
from templates_app.services import create_template, create_version, set_maintainers, update_template

pytestmark = pytest.mark.django_db

INQUIRY = {"name": "inquiry", "type": "string", "required": True, "description": "Customer inquiry text"}


def written_rows():
    """Everything a template write may leave behind, counted."""
    return (
        PromptTemplate.objects.count(),
        TemplateVersion.objects.count(),
        PromptTemplate.history.count(),
        TemplateVersion.history.count(),
    )


def numbers_of(template):
    return sorted(
        (version.number for version in TemplateVersion.objects.filter(template=template)),
        key=lambda number: tuple(int(part) for part in number.split(".")),
    )


def create_as(actor, **overrides):
    """A template made by templates_app's own service (which knows nothing of deployments)."""
    return factories.create_template(actor, service=create_template, **overrides)


# roles


def test_create_template__user_without_author_role__permission_denied_and_nothing_written(reader):
    with pytest.raises(PermissionDenied):
        create_as(reader)

    assert written_rows() == (0, 0, 0, 0)


@pytest.mark.parametrize("roles", [("deployer",), ("technical", "qa", "security", "business", "analyst")])
def test_create_template__only_other_roles__permission_denied(make_user, roles):
    with pytest.raises(PermissionDenied):
        create_as(make_user(*roles))

    assert written_rows() == (0, 0, 0, 0)


def test_create_template__anonymous__permission_denied(db):
    with pytest.raises(PermissionDenied):
        create_as(AnonymousUser())

    assert written_rows() == (0, 0, 0, 0)


def test_create_template__inactive_author__permission_denied(make_user):
    author = make_user("author")
    author.is_active = False
    author.save()

    with pytest.raises(PermissionDenied):
        create_as(author)

    assert written_rows() == (0, 0, 0, 0)


def test_create_template__superuser_without_groups__allowed(make_user):
    template = create_as(make_user(superuser=True))

    assert template.latest_version.number == "1.0.0"


def test_create_version__user_without_author_role__permission_denied_and_nothing_written(
    create_template, reader, new_version
):
    template = create_template()
    before = written_rows()

    with pytest.raises(PermissionDenied):
        new_version(template, actor=reader, content="Changed {{inquiry}}")

    assert written_rows() == before
    assert numbers_of(template) == ["1.0.0"]


def test_update_template__user_without_author_role__permission_denied_and_nothing_written(create_template, reader):
    template = create_template(description="before")
    before = written_rows()

    with pytest.raises(PermissionDenied):
        update_template(actor=reader, template_id=template.pk, description="after")

    assert written_rows() == before
    template.refresh_from_db()
    assert template.description == "before"


# create_template


def test_create_template__no_version_in_metadata__first_version_1_0_0(create_template, author):
    template = create_template(metadata={"author": "team"})

    version = template.latest_version
    assert version.number == "1.0.0"
    assert (version.major, version.minor, version.patch) == (1, 0, 0)
    assert version.created_by == author
    assert numbers_of(template) == ["1.0.0"]


def test_create_template__version_in_metadata__first_version_has_that_number(create_template):
    template = create_template(metadata={"version": "2.3.4", "changelog": "Imported", "usageContext": ["x"]})

    assert template.latest_version.number == "2.3.4"
    assert "version" not in template.metadata
    assert template.metadata["usageContext"] == ["x"]
    assert template.latest_version.metadata == {"changelog": "Imported"}


def test_create_template__definition_stored_on_the_first_version(create_template):
    template = create_template(
        content="Hi {{inquiry}}",
        provider="openai",
        modelConfig={"model": "gpt-4o", "temperature": 0.7},
    )

    version = TemplateVersion.objects.get(pk=template.latest_version.pk)
    assert version.content == "Hi {{inquiry}}"
    assert version.messages is None
    assert version.variables == [INQUIRY]
    assert version.model_config == {"model": "gpt-4o", "temperature": 0.7}
    assert version.provider == "openai"


def test_create_template__chat_prompt__messages_stored_without_content(create_template):
    messages = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "{{inquiry}}"}]

    template = create_template(content=None, messages=messages)

    version = TemplateVersion.objects.get(pk=template.latest_version.pk)
    assert version.content is None
    assert version.messages == messages


@pytest.mark.parametrize("version", ["v1.0.0", "1.0", "1.0.0-rc1", "01.0.0"])
def test_create_template__malformed_metadata_version__invalid_naming_it_and_nothing_written(author, version):
    payload_metadata = {"version": version}

    with pytest.raises(InvalidInput) as caught:
        create_as(author, metadata=payload_metadata)

    assert list(caught.value.fields) == ["metadata.version"]
    assert written_rows() == (0, 0, 0, 0)


def test_create_template__undeclared_placeholder__invalid_naming_content_and_nothing_written(author):
    with pytest.raises(InvalidInput) as caught:
        create_as(author, content="Hello {{nobody}}")

    assert list(caught.value.fields) == ["content"]
    assert "line 1, column 7" in caught.value.fields["content"][0]
    assert written_rows() == (0, 0, 0, 0)


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_template__bad_name__invalid_naming_name(author, name):
    with pytest.raises(InvalidInput) as caught:
        create_as(author, name=name)

    assert list(caught.value.fields) == ["name"]
    assert written_rows() == (0, 0, 0, 0)


def test_create_template__unknown_category__invalid_naming_category(author):
    with pytest.raises(InvalidInput) as caught:
        create_as(author, category="poetry")

    assert list(caught.value.fields) == ["category"]
    assert written_rows() == (0, 0, 0, 0)


def test_create_template__name_with_surrounding_spaces__stored_trimmed(create_template):
    template = create_template(name="  Welcome mail  ")

    template.refresh_from_db()
    assert template.name == "Welcome mail"


def test_create_template__tags__stored_trimmed_and_once(create_template):
    template = create_template(tags=["support", " support ", "billing"])

    assert sorted(template.tags.values_list("name", flat=True)) == ["billing", "support"]


# duplicate names


@pytest.mark.parametrize("second_name", ["Support Reply", "support reply", "SUPPORT REPLY", "  Support Reply "])
def test_create_template__name_taken_ignoring_case__duplicate_name_and_nothing_written(create_template, second_name):
    create_template(name="Support Reply")
    before = written_rows()

    with pytest.raises(DuplicateTemplateName) as caught:
        create_template(name=second_name)

    assert caught.value.status == 409
    assert written_rows() == before


def test_update_template__rename_to_a_taken_name__duplicate_name_and_name_unchanged(create_template, author):
    create_template(name="Taken")
    template = create_template(name="Mine")
    before = written_rows()

    with pytest.raises(DuplicateTemplateName):
        update_template(actor=author, template_id=template.pk, name="TAKEN")

    assert written_rows() == before
    template.refresh_from_db()
    assert template.name == "Mine"


def test_update_template__rename_to_own_name_in_other_case__allowed(create_template, author):
    template = create_template(name="Mine")

    update_template(actor=author, template_id=template.pk, name="MINE")

    template.refresh_from_db()
    assert template.name == "MINE"


# update_template


def test_update_template__descriptive_fields__changed_without_a_new_version(create_template, author):
    template = create_template(description="old", category="generation", tags=["a"])

    update_template(
        actor=author,
        template_id=template.pk,
        description="new",
        category="analysis",
        tags=["b", "c"],
        metadata={"author": "other-team"},
    )

    template.refresh_from_db()
    assert (template.description, template.category, template.metadata) == ("new", "analysis", {"author": "other-team"})
    assert sorted(template.tags.values_list("name", flat=True)) == ["b", "c"]
    assert numbers_of(template) == ["1.0.0"]


def test_update_template__tags_left_out__kept_and_empty_list_clears(create_template, author):
    template = create_template(tags=["keep"])

    update_template(actor=author, template_id=template.pk, description="x")
    assert list(template.tags.values_list("name", flat=True)) == ["keep"]

    update_template(actor=author, template_id=template.pk, tags=[])
    assert list(template.tags.values_list("name", flat=True)) == []


def test_update_template__unknown_template__not_found(author):
    with pytest.raises(TemplateNotFound):
        update_template(actor=author, template_id=uuid.uuid4(), description="x")


def test_update_template__bad_category__invalid_and_nothing_written(create_template, author):
    template = create_template(category="generation")
    before = written_rows()

    with pytest.raises(InvalidInput) as caught:
        update_template(actor=author, template_id=template.pk, category="poetry")

    assert list(caught.value.fields) == ["category"]
    assert written_rows() == before


# create_version: numbering


def test_create_version__only_text_changed__patch(create_template, new_version):
    template = create_template()

    version = new_version(template, content="Please answer: {{inquiry}}")

    assert version.number == "1.0.1"
    assert version.change_summary == [{"level": "patch", "change": "content changed"}]


def test_create_version__required_variable_added__major(create_template, new_version):
    template = create_template()

    version = new_version(template, content="{{inquiry}} {{customer}}", variables=[INQUIRY, {"name": "customer"}])

    assert version.number == "2.0.0"


def test_create_version__variable_removed__major(create_template, new_version):
    template = create_template()

    version = new_version(template, content="No variables any more", variables=[])

    assert version.number == "2.0.0"
    assert version.variables == []


def test_create_version__model_settings_changed__minor(create_template, new_version):
    template = create_template()
    content = template.latest_version.content

    version = new_version(template, content=content, modelConfig={"model": "claude-sonnet", "temperature": 0.9})

    assert version.number == "1.1.0"


def test_create_version__series_of_changes__each_numbered_from_the_latest(create_template, new_version):
    template = create_template(metadata={})

    new_version(template, content="v2 {{inquiry}}")  # patch
    new_version(template, content="v3 {{inquiry}}", provider="openai")  # minor
    new_version(template, content="v4 {{inquiry}}")  # patch
    new_version(template, content="v5", variables=[])  # major
    last = new_version(template, content="v6")  # patch

    assert numbers_of(template) == ["1.0.0", "1.0.1", "1.1.0", "1.1.1", "2.0.0", "2.0.1"]
    template.refresh_from_db()
    assert template.latest_version == last


def test_create_version__new_version__becomes_the_latest_and_records_its_author(
    create_template, new_version, make_user, author
):
    # Given a template maintained by a team, and another author in that team
    template = create_template()
    other_author = make_user("author")
    team = Group.objects.create(name="support-prompts")
    other_author.groups.add(team)
    set_maintainers(actor=author, template_id=template.pk, usernames=[author.username], group_names=[team.name])

    version = new_version(template, actor=other_author, content="Other words {{inquiry}}")

    template.refresh_from_db()
    assert template.latest_version_id == version.pk
    assert version.created_by == other_author
    assert version.template_id == template.pk


def test_create_version__unknown_template__not_found(author):
    with pytest.raises(TemplateNotFound):
        create_version(actor=author, template_id=uuid.uuid4(), definition={"content": "x"})


def test_create_version__invalid_definition__invalid_naming_the_path_and_nothing_written(create_template, new_version):
    template = create_template()
    before = written_rows()

    with pytest.raises(InvalidInput) as caught:
        new_version(template, content="{{inquiry}}\n{{unknown}}")

    assert list(caught.value.fields) == ["content"]
    assert "line 2, column 1" in caught.value.fields["content"][0]
    assert written_rows() == before


# create_version: bump


@pytest.mark.parametrize(("bump", "expected"), [(Bump.PATCH, "1.0.1"), (Bump.MINOR, "1.1.0"), (Bump.MAJOR, "2.0.0")])
def test_create_version__bump_at_least_the_change__takes_the_asked_step(create_template, new_version, bump, expected):
    template = create_template()

    version = new_version(template, content="Reworded {{inquiry}}", bump=bump)

    assert version.number == expected


def test_create_version__bump_smaller_than_the_change__invalid_naming_bump_and_nothing_written(
    create_template, new_version
):
    # Given a change that removes a variable (major)
    template = create_template()
    before = written_rows()

    # When the author asks for only a minor step
    with pytest.raises(InvalidInput) as caught:
        new_version(template, content="No variables", variables=[], bump=Bump.MINOR)

    # Then it is refused, saying why, and nothing is written
    assert list(caught.value.fields) == ["bump"]
    assert "major" in caught.value.fields["bump"][0]
    assert "inquiry" in caught.value.fields["bump"][0]
    assert written_rows() == before


def test_create_version__patch_bump_for_a_minor_change__invalid_naming_bump(create_template, new_version):
    template = create_template()

    with pytest.raises(InvalidInput) as caught:
        new_version(template, content=template.latest_version.content, provider="openai", bump=Bump.PATCH)

    assert list(caught.value.fields) == ["bump"]


# create_version: metadata.version


def test_create_version__requested_version_above_the_needed_one__used(create_template, new_version):
    template = create_template()

    version = new_version(template, content="Reworded {{inquiry}}", metadata={"version": "1.5.0", "changelog": "c"})

    assert version.number == "1.5.0"
    assert version.metadata == {"changelog": "c"}


def test_create_version__requested_version_equal_to_the_needed_one__used(create_template, new_version):
    template = create_template()

    version = new_version(template, content="Reworded {{inquiry}}", metadata={"version": "1.0.1"})

    assert version.number == "1.0.1"


def test_create_version__after_a_requested_jump__numbering_continues_from_it(create_template, new_version):
    template = create_template()
    new_version(template, content="Reworded {{inquiry}}", metadata={"version": "3.0.0"})

    version = new_version(template, content="Reworded again {{inquiry}}")

    assert version.number == "3.0.1"


@pytest.mark.parametrize("requested", ["1.0.0", "1.9.9", "0.9.0"])
def test_create_version__requested_version_below_the_needed_one__invalid_and_nothing_written(
    create_template, new_version, requested
):
    # Given a major change from 1.0.0, which needs 2.0.0
    template = create_template()
    before = written_rows()

    with pytest.raises(InvalidInput) as caught:
        new_version(template, content="none", variables=[], metadata={"version": requested})

    assert list(caught.value.fields) == ["metadata.version"]
    assert "2.0.0" in caught.value.fields["metadata.version"][0]
    assert written_rows() == before


def test_create_version__requested_version_malformed__invalid_naming_it(create_template, new_version):
    template = create_template()

    with pytest.raises(InvalidInput) as caught:
        new_version(template, content="Reworded {{inquiry}}", metadata={"version": "2"})

    assert list(caught.value.fields) == ["metadata.version"]


# create_version: identical and carried-over fields


def test_create_version__same_as_latest__identical_version_and_nothing_written(create_template, new_version):
    template = create_template()
    before = written_rows()

    with pytest.raises(IdenticalVersion) as caught:
        new_version(template, content=template.latest_version.content)

    assert caught.value.status == 409
    assert "1.0.0" in caught.value.message
    assert written_rows() == before


def test_create_version__same_as_latest_with_every_field_spelled_out__identical_version(create_template, new_version):
    template = create_template()
    latest = template.latest_version

    with pytest.raises(IdenticalVersion):
        new_version(
            template,
            content=latest.content,
            variables=[{"description": "Customer inquiry text", "required": True, "name": "inquiry"}],
            modelConfig={"maxTokens": 500, "temperature": 0.2, "model": "claude-sonnet"},
            provider="claude",
        )


def test_create_version__same_as_an_older_version_but_not_the_latest__created(create_template, new_version):
    # Going back to earlier text is a change from the latest version
    template = create_template(content="A {{inquiry}}")
    new_version(template, content="B {{inquiry}}")

    version = new_version(template, content="A {{inquiry}}")

    assert version.number == "1.0.2"


def test_create_version__variables_settings_and_provider_left_out__carried_over(create_template, new_version):
    template = create_template(
        variables=[INQUIRY, {"name": "tone", "required": False, "default": "warm"}],
        content="{{inquiry}} in a {{tone}} tone",
        provider="claude",
        modelConfig={"model": "claude-sonnet", "temperature": 0.4},
    )

    version = new_version(template, content="Reply to {{inquiry}}, {{tone}}")

    assert version.variables == [INQUIRY, {"name": "tone", "type": "string", "required": False, "default": "warm"}]
    assert version.model_config == {"model": "claude-sonnet", "temperature": 0.4}
    assert version.provider == "claude"
    assert version.number == "1.0.1"


def test_create_version__fields_sent_as_null__carried_over(create_template, new_version):
    template = create_template(provider="claude")

    version = new_version(template, content="Reply {{inquiry}}", variables=None, modelConfig=None, provider=None)

    assert version.variables == [INQUIRY]
    assert version.provider == "claude"
    assert version.model_config == template.latest_version.model_config


def test_create_version__empty_settings_sent__settings_cleared_not_carried(create_template, new_version):
    template = create_template()

    version = new_version(template, content=template.latest_version.content, modelConfig={})

    assert version.model_config == {}
    assert version.number == "1.1.0"


def test_create_version__only_variables_reordered__not_a_server_error(create_template, new_version):
    # Given two variables, sent again in the other order with the same text
    template = create_template(content="{{a}} {{b}}", variables=[{"name": "a"}, {"name": "b"}])
    before = written_rows()

    # When a new version is asked for: nothing a caller can observe changed
    try:
        version = new_version(template, content="{{a}} {{b}}", variables=[{"name": "b"}, {"name": "a"}])
    except IdenticalVersion:
        # Then either it is refused as identical (and nothing written) ...
        assert written_rows() == before
    else:
        # ... or it is a patch version; never an AssertionError (a 500)
        assert version.number == "1.0.1"


def test_create_version__number_setting_respelled_1_as_1_0__not_a_server_error(create_template, new_version):
    # JSON writes the same temperature as `1` (JavaScript clients) or `1.0` (Python clients)
    template = create_template(modelConfig={"model": "m", "temperature": 1})
    before = written_rows()

    try:
        version = new_version(
            template, content=template.latest_version.content, modelConfig={"model": "m", "temperature": 1.0}
        )
    except IdenticalVersion:
        assert written_rows() == before
    else:
        assert version.number in ("1.0.1", "1.1.0")


def test_create_version__text_prompt_to_chat__major_and_content_not_carried(create_template, new_version):
    template = create_template()

    version = new_version(template, messages=[{"role": "user", "content": "{{inquiry}}"}])

    assert version.number == "2.0.0"
    assert version.content is None
    assert version.messages == [{"role": "user", "content": "{{inquiry}}"}]


# versions are immutable


def test_version_save__existing_version__refused_and_row_unchanged(create_template):
    template = create_template(content="Original {{inquiry}}")
    version = TemplateVersion.objects.get(pk=template.latest_version.pk)

    version.content = "Tampered {{inquiry}}"
    with pytest.raises(ImmutableVersion):
        version.save()

    assert TemplateVersion.objects.get(pk=version.pk).content == "Original {{inquiry}}"


def test_version_delete__existing_version__refused_and_row_kept(create_template):
    template = create_template()
    version = TemplateVersion.objects.get(pk=template.latest_version.pk)

    with pytest.raises(ImmutableVersion):
        version.delete()

    assert TemplateVersion.objects.filter(pk=version.pk).exists()


# audit history


def test_create_template__history__one_creation_record_by_the_actor_with_its_tags(create_template, author):
    template = create_template(tags=["b", "a"])

    records = list(PromptTemplate.history.filter(id=template.pk))

    assert len(records) == 1  # the template and its tags are one change, not three
    assert records[0].history_type == "+"
    assert records[0].history_user == author
    assert sorted(records[0].tags.values_list("tag__name", flat=True)) == ["a", "b"]


def test_create_version__history__creation_record_names_the_acting_user(
    create_template, new_version, make_user, author
):
    template = create_template()
    other_author = make_user("author")
    set_maintainers(
        actor=author, template_id=template.pk, usernames=[author.username, other_author.username], group_names=[]
    )

    version = new_version(template, actor=other_author, content="New {{inquiry}}")

    records = list(TemplateVersion.history.filter(id=version.pk))
    assert [(record.history_type, record.history_user) for record in records] == [("+", other_author)]


def test_create_template__history__first_version_recorded_by_the_actor(create_template, author):
    template = create_template()

    records = list(TemplateVersion.history.filter(id=template.latest_version.pk))

    assert [(record.history_type, record.history_user) for record in records] == [("+", author)]


def test_update_template__history__change_record_names_the_acting_user(create_template, make_user, author):
    template = create_template(description="before")
    editor = make_user("author")
    set_maintainers(actor=author, template_id=template.pk, usernames=[editor.username], group_names=[])

    update_template(actor=editor, template_id=template.pk, description="after")

    latest = PromptTemplate.history.filter(id=template.pk).order_by("-history_date", "-history_id").first()
    assert (latest.history_type, latest.history_user, latest.description) == ("~", editor, "after")
    assert PromptTemplate.history.filter(id=template.pk).count() == 3  # created, maintainers set, edited


# concurrency


@pytest.fixture
def committed_author(transactional_db):
    """An author in a test whose writes really commit.

    An earlier transactional test's flush empties the seeded role groups, so the group is made here if missing.
    """
    group, _ = Group.objects.get_or_create(name="author")
    user = get_user_model().objects.create_user(username=f"concurrent-author-{uuid.uuid4().hex[:8]}")
    user.groups.add(group)
    return user


@pytest.mark.django_db(transaction=True)
def test_create_version__several_at_once__distinct_gap_free_numbers(committed_author):
    # Given a template at 1.0.0 and authors saving new text at the same moment
    author = committed_author
    template = create_as(author, content="start {{inquiry}}", metadata={})
    writers = 6

    def save_text(index: int) -> str:
        definition = {"content": f"text {index} {{{{inquiry}}}}"}
        return create_version(actor=author, template_id=template.pk, definition=definition).number

    # When each creates a version
    outcomes = at_once([partial(save_text, index) for index in range(writers)])

    # Then each got its own number, one patch after the other, with no gaps and no failures
    assert all(isinstance(outcome, str) for outcome in outcomes), outcomes
    created = outcomes
    expected = [f"1.0.{patch}" for patch in range(1, writers + 1)]
    assert sorted(created, key=lambda number: int(number.split(".")[2])) == expected
    assert numbers_of(template) == ["1.0.0", *expected]
    template.refresh_from_db()
    assert template.latest_version.number == f"1.0.{writers}"
