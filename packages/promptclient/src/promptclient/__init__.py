"""The prompt template lifecycle server's Python client (see README.md)."""

from promptrender.variables import ValuesInvalid

from promptclient.client import PromptClient, TemplateUnavailable

__all__ = ["PromptClient", "TemplateUnavailable", "ValuesInvalid"]
