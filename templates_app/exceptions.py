"""The rules of templates and versions that refuse a request, each with a stable code."""

from lifecycle.core.exceptions import Conflict, NotFound


class TemplateNotFound(NotFound):
    code, message = "template_not_found", "No template with this id."


class VersionNotFound(NotFound):
    code, message = "version_not_found", "No version with this id."


class DuplicateTemplateName(Conflict):
    code, message = "duplicate_name", "A template with this name already exists."


class IdenticalVersion(Conflict):
    code, message = "identical_version", "This version is identical to the latest version; nothing to create."
