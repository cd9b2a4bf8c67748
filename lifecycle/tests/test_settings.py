"""Settings read from the environment refuse values the server cannot work with, at start-up, by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["0", "-5", "3601"])
def test_rollback_evaluation_seconds__out_of_bounds__start_up_refused_naming_it(value, tmp_path):
    env = {**os.environ, "ROLLBACK_EVALUATION_SECONDS": value, "LIFECYCLE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "ROLLBACK_EVALUATION_SECONDS must be 1 to 3600" in done.stderr


def test_rollback_evaluation_seconds__a_few_seconds__accepted(tmp_path):
    env = {**os.environ, "ROLLBACK_EVALUATION_SECONDS": "2.5", "LIFECYCLE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
