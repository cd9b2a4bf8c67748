"""Settings for the prompt template lifecycle server.

Every setting a deployment may change is read here, from environment variables, and nowhere else.
The defaults are for the embedded run (`make run`): SQLite and a Celery broker on the local disk,
so that a fresh machine with only Python needs no other server. `DATABASE_URL` and `REDIS_URL`
switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from lifecycle.core.api.rates import parse_rate
from lifecycle.core.observability.logs import LOG_FORMATS, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Everything the embedded run writes (database, broker queue, generated secret key) lives here.
DATA_DIR = Path(env.str("LIFECYCLE_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _generated_secret_key(path: Path) -> str:
    """Read the key generated on the first run, or generate it.

    The key is never committed: it is created on the machine that runs the server and kept out of git.
    O_EXCL makes the web server, the worker and beat agree on one key even when they start together.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as key_file:
        key = secrets.token_urlsafe(50)
        key_file.write(key)
    return key


# GENERAL
# Production (DJANGO_PRODUCTION=true): behind HTTPS, with its secret and host names from the environment;
# `manage.py check --deploy` is clean with it. The embedded default is for a first look on this machine.
PRODUCTION = env.bool("DJANGO_PRODUCTION", default=False)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if PRODUCTION and not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_PRODUCTION needs DJANGO_SECRET_KEY (50 random characters or more).")
SECRET_KEY = SECRET_KEY or _generated_secret_key(DATA_DIR / "secret_key")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and (not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS):
    raise ImproperlyConfigured("DJANGO_PRODUCTION needs DJANGO_ALLOWED_HOSTS: the server's own host names.")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "lifecycle.urls"
WSGI_APPLICATION = "lifecycle.wsgi.application"

# APPS
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "csp",
    # Ours, from the bottom layer up (DESIGN.md, "Parts").
    "lifecycle.core",
    "templates_app",
    "approvals",
    "analytics",
    "abtesting",
    "lifecycle.releases",
]

MIDDLEWARE = [
    # First: the request id is bound before anything logs, and the access line sees every answer
    # (lifecycle.core.observability).
    "lifecycle.core.observability.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "lifecycle.core.messages.PagesMessageMiddleware",  # the pages only: the API has no messages
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "lifecycle.core.csp.PagesCSPMiddleware",
    # Last: requests counted and timed by route (the view's time, whichever middleware answered first).
    "lifecycle.core.observability.middleware.PrometheusMiddleware",
]

# Pages that need a signed-in user (the dashboard) send visitors to its sign-in page.
LOGIN_URL = "dashboard-login"

# The dashboard's Content-Security-Policy (lifecycle.core.csp): our own scripts, styles and images only, no
# inline code, no other origin; nothing may frame it.
CSP_PATH_PREFIXES = ("/dashboard/",)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASES
# Set but empty (`DATABASE_URL= make run`, a blank line in a .env file) means unset: the embedded default.
DATABASES = {"default": env.db_url_config(os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers (every render) go on while a writer commits; IMMEDIATE takes the write
        # lock when a transaction starts, so two writers queue instead of failing with "locked".
        # Checkpoints (copying the WAL into the database) are the Celery worker's job, outside the write
        # lock (lifecycle.core.db.sqlite.checkpoint); a committing writer only does one when the WAL has grown
        # past 80 MB (4 KB pages), e.g. with no worker running.
        # mmap: pages are read from the OS page cache without a system call each (SQLite empties a
        # connection's own page cache whenever another connection has written).
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=20000; "
            "PRAGMA mmap_size=1073741824;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# Reuse connections across requests: opening one per request would cost more than the render itself.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)

# CACHES (nothing mutable is cached: see lifecycle/releases/selectors.py for why)
REDIS_URL = env.str("REDIS_URL", default="")


def _next_database(url: str) -> str:
    """The Redis URL of the database after `url`'s (redis://host:6379/0 -> /1): the cache apart from the
    broker's queues, so that clearing the cache can never drop a task."""
    parts = urlsplit(url)
    number = parts.path.strip("/")
    return urlunsplit(parts._replace(path=f"/{int(number) + 1 if number.isdigit() else 1}"))


if REDIS_URL:
    # Short timeouts: the cache holds rate-limit counters, which must never hold a request up (with Redis
    # away, throttling lets requests through: lifecycle.core.api.throttling).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.str("REDIS_CACHE_URL", default=_next_database(REDIS_URL)),
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
else:  # one process's own: each web worker counts its own requests (make run's default)
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# AUTH
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HTTPS only, in production: browsers remember it for a year (HSTS), plain HTTP is redirected, and the TLS
# proxy in front says which requests came over HTTPS. The health check answers over plain HTTP too, for
# probes inside the network, and so does /metrics, for the scraper (its token: METRICS_TOKEN below).
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=PRODUCTION)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^api/health$", r"^metrics$"]
BEHIND_TLS_PROXY = env.bool("DJANGO_BEHIND_TLS_PROXY", default=PRODUCTION)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


# RATE LIMITS (lifecycle.core.api.throttling): per token (or signed-in user) and per anonymous address, in
# the shared cache. Render and ingestion carry every integration's traffic, so they have their own, higher
# rates. Each is DRF's "N/s|m|h|d", or "off".
def _rate(name: str, default: str) -> tuple[int, int] | None:
    value = env.str(name, default=default)
    try:
        return parse_rate(value)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: {error}") from None


THROTTLE_RATES = {
    "anon": _rate("THROTTLE_RATE_ANON", "60/m"),
    "user": _rate("THROTTLE_RATE_USER", "50/s"),
    "render": _rate("THROTTLE_RATE_RENDER", "1000/s"),
    "ingestion": _rate("THROTTLE_RATE_INGESTION", "100/s"),
}
THROTTLE_CACHE = "default"

# STATIC (served by WhiteNoise, so the admin and the API docs work without another server)
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# REQUEST LIMITS
# The one size limit for request bodies (API.md: 413 over 1 MiB by default). Our JSON parser enforces
# it for the API; Django's own limit covers the admin's forms.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header is what turns "no credentials" into a 401.
        "lifecycle.core.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # Last: counts what no one above authenticated against its address's rate limit (before the 401).
        "lifecycle.core.api.throttling.AnonymousRateLimit",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["lifecycle.core.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "lifecycle.core.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "lifecycle.core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": ["lifecycle.core.api.throttling.ClientRateThrottle"],
    # An anonymous caller is counted by address: the socket's, or with a proxy in front the address the
    # proxy saw (the last X-Forwarded-For entry it added), never one a client can write itself.
    "NUM_PROXIES": env.int("DJANGO_NUM_PROXIES", default=1 if BEHIND_TLS_PROXY else 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Prompt template lifecycle server",
    # The docs page's introduction: conventions, the error shape, and who may do what.
    "DESCRIPTION": (BASE_DIR / "lifecycle" / "core" / "api" / "description.md").read_text(),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page must work offline: its JavaScript and CSS come from drf-spectacular-sidecar.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The ways to authenticate; AnonymousRateLimit, last in the list, authenticates no one (it counts).
    "AUTHENTICATION_WHITELIST": [
        "lifecycle.core.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Names for choice sets that several fields share, so that generated clients get one type each.
    "ENUM_NAME_OVERRIDES": {
        "VersionStep": ["major", "minor", "patch"],
        "ApprovalStatus": "approvals.models.ApprovalRequest.State",
        "StageStatus": "approvals.models.ApprovalStage.State",
        "DeploymentStatus": "lifecycle.releases.models.Deployment.State",
        "VersionStatus": ["active", "inactive"],
        "ExecutionStatus": ["success", "error", "timeout"],
        "RuleAction": "lifecycle.releases.rules.definitions.Action",
        "ABTestMetricType": "abtesting.models.MetricType",
        "ABTestStatus": "abtesting.models.ABTest.State",
    },
    "PREPROCESSING_HOOKS": ["lifecycle.core.api.schema.without_trailing_slash_twins"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "lifecycle.core.api.schema.document_common_errors",
    ],
}

# CELERY
# Without Redis the broker is a folder on disk (kombu's filesystem transport): nothing to install or run.
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if not REDIS_URL:
    _queue_dir = DATA_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(DATA_DIR / "celery-control"),
        "polling_interval": 1.0,
    }
# Named, so that the queue length in /metrics is read from the queue the workers consume.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
HEARTBEAT_SECONDS = env.float("HEARTBEAT_SECONDS", default=60.0)

# APPROVALS
# Reviewers of a request pending longer than this are reminded by email, once per such period.
APPROVAL_REMINDER_AFTER_HOURS = env.float("APPROVAL_REMINDER_AFTER_HOURS", default=24.0)
APPROVAL_REMINDER_CHECK_MINUTES = env.float("APPROVAL_REMINDER_CHECK_MINUTES", default=15.0)
# Where people reach this server, for links in emails.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://localhost:8000")

# EMAIL (printed to the worker's log unless EMAIL_URL names a server, e.g. smtp+tls://user:pass@host:587)
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="prompt-lifecycle@localhost")

# OUTBOX (notifications: emails and webhooks, sent by the worker once the change that caused them commits)
# How often beat has a worker send what is due: retries, and what a stopped worker left.
OUTBOX_SWEEP_SECONDS = env.float("OUTBOX_SWEEP_SECONDS", default=10.0)
# Attempts before a delivery is marked failed; the waits between them are 10 s, 30 s, 90 s, ... (x3 each).
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=6)
# How long a webhook receiver has to accept the connection, and then to answer each read.
OUTBOX_WEBHOOK_TIMEOUT_SECONDS = env.float("OUTBOX_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Webhooks to loopback, link-local and private addresses are refused (the server must not become a way into
# its own network); on-premise receivers need this on.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)

# EXECUTIONS
# Inputs and outputs may hold personal data: keep them at all? If so, at most this many characters each.
EXECUTION_STORE_PAYLOADS = env.bool("EXECUTION_STORE_PAYLOADS", default=True)
EXECUTION_PAYLOAD_MAX_CHARS = env.int("EXECUTION_PAYLOAD_MAX_CHARS", default=2000)
# Raw executions older than this are deleted (daily, by beat); the hourly and daily rollups stay.
EXECUTION_RETENTION_DAYS = env.int("EXECUTION_RETENTION_DAYS", default=90)
# How often a worker folds newly stored executions into the rollups (queries count them exactly meanwhile).
ANALYTICS_ROLLUP_SECONDS = env.float("ANALYTICS_ROLLUP_SECONDS", default=2.0)
# Executions per roll-up pass (one transaction each): larger passes roll up faster, smaller ones hold the
# write lock (SQLite) and the rollup rows shorter.
ANALYTICS_ROLLUP_PASS_EXECUTIONS = max(1, env.int("ANALYTICS_ROLLUP_PASS_EXECUTIONS", default=10_000))
# How far in the future a reported timestamp may be (clocks differ).
EXECUTION_CLOCK_SKEW_SECONDS = env.int("EXECUTION_CLOCK_SKEW_SECONDS", default=300)

# DATA PROTECTION (lifecycle.core.db.encrypted; README, "Data protection")
# Fernet keys, comma-separated: the first encrypts, every one decrypts (rotation: put a new key first, run
# `manage.py reencrypt`, then drop the old one). Set: executions' inputs and outputs are encrypted at rest.
DATA_ENCRYPTION_KEYS = [key.strip() for key in env.list("DATA_ENCRYPTION_KEYS", default=[]) if key.strip()]
for _position, _key in enumerate(DATA_ENCRYPTION_KEYS, start=1):
    try:
        Fernet(_key)
    except (ValueError, TypeError):
        # Never the key itself in the message: it ends up in logs.
        raise ImproperlyConfigured(
            f"DATA_ENCRYPTION_KEYS: key {_position} of {len(DATA_ENCRYPTION_KEYS)} is not a Fernet key (32 bytes, "
            'url-safe base64, 44 characters). Generate one with: python -c "from cryptography.fernet import '
            'Fernet; print(Fernet.generate_key().decode())"'
        ) from None
# Templates' text (versions' content, chat messages and the author's source, and their history) encrypted
# at rest with the same keys. Render is unchanged: it compiles a version once per process and keeps it.
TEMPLATE_CONTENT_ENCRYPTION = env.bool("TEMPLATE_CONTENT_ENCRYPTION", default=False)
if TEMPLATE_CONTENT_ENCRYPTION and not DATA_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("TEMPLATE_CONTENT_ENCRYPTION needs DATA_ENCRYPTION_KEYS.")
# Production keeps personal data encrypted or not at all: an operator who forgot the keys learns it at start,
# not from an audit.
if PRODUCTION and EXECUTION_STORE_PAYLOADS and not DATA_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "DJANGO_PRODUCTION needs DATA_ENCRYPTION_KEYS to encrypt executions' inputs and outputs at rest "
        "(or EXECUTION_STORE_PAYLOADS=false to keep none)."
    )

# ROLLBACK TRIGGERS
# How often beat evaluates the enabled trigger rules (lifecycle.releases.rules), down to a few seconds.
# Each evaluation's window ends at the moment beat fired; that moment floored to this interval (its tick)
# makes it happen once however often its task runs.
ROLLBACK_EVALUATION_SECONDS = env.float("ROLLBACK_EVALUATION_SECONDS", default=60.0)
if not 1 <= ROLLBACK_EVALUATION_SECONDS <= 3600:  # the tick is the moment floored to it: never zero
    raise ImproperlyConfigured(f"ROLLBACK_EVALUATION_SECONDS must be 1 to 3600, not {ROLLBACK_EVALUATION_SECONDS}")

# RENDERING
# How many characters of compiled prompts each process keeps in memory (versions never change, so
# keeping them is always safe; this bounds the memory it takes).
RENDER_CACHE_CHARACTERS = env.int("RENDER_CACHE_CHARACTERS", default=20_000_000)

# BENCHMARK
# A plain Django view (no DRF, no auth, no database), mounted only when the benchmark asks for it:
# it is the ceiling the render endpoint is measured against (`make bench`).
BENCH_VIEWS = env.bool("LIFECYCLE_BENCH_VIEWS", default=False)

# OBSERVABILITY (README, "Observability")
# /metrics (Prometheus): with METRICS_TOKEN set, for whoever sends it as `Authorization: Bearer <token>`;
# without it, for this machine only (loopback), and not at all in production.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The Celery worker's own counters (rule evaluations, deliveries, tasks) on http://HOST:PORT/metrics; 0: off.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_HOST = env.str("WORKER_METRICS_HOST", default="127.0.0.1")
# Latency buckets in seconds: render answers in milliseconds, django-prometheus's default starts at 10 ms.
PROMETHEUS_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, float("inf")
)  # fmt: skip

# LOGGING
# Every process (web, worker, beat) logs one JSON object per line in production, readable lines otherwise;
# LOG_FORMAT chooses either anywhere.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "console")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {LOG_FORMAT!r}")
LOGGING = logging_config(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO").upper())  # type: ignore[arg-type]
# The access line: for every request ("all"), for answers >= 400 and requests slower than ACCESS_LOG_SLOW_MS
# ("errors": the default; a line per render costs more than half its throughput, and per-route rates and
# latencies are in /metrics), or none ("off").
ACCESS_LOG = env.str("ACCESS_LOG", default="errors")
if ACCESS_LOG not in ("all", "errors", "off"):
    raise ImproperlyConfigured(f"ACCESS_LOG must be all, errors or off, not {ACCESS_LOG!r}")
ACCESS_LOG_SLOW_MS = env.float("ACCESS_LOG_SLOW_MS", default=1000.0)
