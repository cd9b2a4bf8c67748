"""The admin pages that need what is live where, registered here because this app may import every app
(Django's admin autodiscovery imports this package, which registers each page):

- `templates`: templates and versions (templates_app.admin's classes), created through the services that
  make each new version active in development at once;
- `requests`: approval requests (approvals.admin's class), with the diff against what the environment serves;
- `deployments`: what was live where;
- `rollbacks`: every rollback, read-only;
- `rules`: rollback trigger rules, their evaluations and the alerts they fired;
- `abtests`: A/B tests (abtesting.admin's class), with their results and the promotion of a variant;
- `access`: the access review (superusers).
"""

from lifecycle.releases.admin import abtests, access, deployments, requests, rollbacks, rules, templates

__all__ = ["abtests", "access", "deployments", "requests", "rollbacks", "rules", "templates"]
