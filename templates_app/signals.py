"""Hooks for the layers above (DESIGN.md: a lower part exposes a hook; a higher part reacts to it).

`version_created` is sent inside the transaction that creates the version, with `version` and `actor`.
A receiver that raises undoes the version: lifecycle.releases uses it to make every new version active
in development at once, atomically with its creation.
"""

from django.dispatch import Signal

version_created = Signal()
