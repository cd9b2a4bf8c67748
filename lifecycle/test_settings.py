"""Settings for the test suite: the real settings with the few changes that make tests fast and isolated."""

import os

from lifecycle.settings import *  # noqa: F403
from lifecycle.settings import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tasks called from tests run in-process; the end-to-end tests start a real worker.
CELERY_TASK_ALWAYS_EAGER = True
# A file, not ":memory:", so that threads in concurrency tests share one database; one per test run,
# so that two runs at once do not share it.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405
# Webhook receivers in tests listen on this machine; the tests of the refusal turn this off.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
# No rate limits: tests send requests faster than any integration; the throttling tests set their own.
THROTTLE_RATES = {"anon": None, "user": None, "render": None, "ingestion": None}
