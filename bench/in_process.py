"""What the benchmarks' in-process parts (bench/*_db.py, run with the venv and the benchmark's environment)
share: progress on stderr (stdout's last line is the result), Django set up, the state kept beside the
throwaway database, and users made as the benchmark's other users are."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any


def say(text: str) -> None:
    """Progress, on stderr: stdout's last line is the result."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def django_setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifecycle.settings")
    django.setup()


def state_path(name: str) -> Path:
    """A part's state (what its setup made, for its next commands), kept beside the database."""
    return Path(os.environ["LIFECYCLE_DATA_DIR"]) / name


def user_with_roles(name: str, groups: str) -> Any:
    """A user with these roles, made by the same command as the benchmark's other users."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("create_api_token", name, groups=groups, stdout=io.StringIO(), stderr=io.StringIO())
    return get_user_model().objects.get(username=name)
