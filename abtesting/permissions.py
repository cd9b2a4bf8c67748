"""Who may do what with A/B tests (the README's "Who may do what"). Checked by the services, which take the
acting user, so the API and the admin obey the same rules.

- Create a test of a template: authors who maintain the template (templates_app.permissions.may_change),
  deployers, superusers. Cancel a draft: the same people (it has served nobody yet).
- Start, resume, pause, stop (complete) a test, and cancel a paused one: `deployer` (release managers run
  tests: what a template serves changes), superusers.
- Read tests: everyone signed in (like deployments and rollbacks).
Superusers hold every role.
"""

from __future__ import annotations

from lifecycle.core.exceptions import PermissionDenied
from lifecycle.core.roles import Role, User, has_role, require_role
from templates_app.models import PromptTemplate
from templates_app.permissions import may_change

RUN_TESTS = (Role.DEPLOYER,)


def may_create_test(user: User, template: PromptTemplate) -> bool:
    return has_role(user, *RUN_TESTS) or may_change(user, template)


def require_may_create_test(user: User, template: PromptTemplate, *, to: str = "create an A/B test of it") -> None:
    if not may_create_test(user, template):
        raise PermissionDenied(
            f"To {to} you need the 'deployer' role, or the 'author' role and to maintain template '{template.name}'."
        )


def may_run_tests(user: User) -> bool:
    return has_role(user, *RUN_TESTS)


def require_may_run_tests(user: User, *, to: str) -> None:
    require_role(user, *RUN_TESTS, to=to)
