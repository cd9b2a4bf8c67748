from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "lifecycle.releases"
    label = "releases"
    verbose_name = "Releases"
    # Everyone who works in the admin may read what is live where (templates' pages link to it); only
    # deployers have the queue of what waits for a deploy (the admin index lists each role's own work).
    # Those who roll back (deployers; security, in emergencies) read the rollback records; everyone reads
    # rollbacks in a template's history.
    role_permissions = {
        **{role: ["view_deployment"] for role in ("author", "technical", "qa", "business")},
        "security": ["view_deployment", "view_rollback"],
        "deployer": ["view_deployment", "view_readytodeploy", "view_rollback"],
    }
