"""Earmark settings: one module, every deployment-specific value from the environment.

Defaults give the embedded set-up of a fresh machine: SQLite under var/, a broker that
needs no server (kombu's filesystem transport) and media under var/media. Production sets
DEBUG=false, SECRET_KEY, DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from labelapp.env import env_bool, env_choice, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Absolute: a relative EARMARK_VAR_DIR (as the README's examples write it) made every command
# warn that the file cache's path is relative (caches.W003), and its meaning follow the
# directory a command ran from.
VAR_DIR = Path(env_str("EARMARK_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "earmark-insecure-development-key-change-me-0123456789abcdef"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "ontology",
    "labelapp",
    "ml_backend",
]

MIDDLEWARE = [
    # Every request's id, in the response and in each log line written for it.
    "labelapp.requestid.RequestIdMiddleware",
    # /healthz first: a load balancer's check by IP (a Host not in ALLOWED_HOSTS, a 400) or
    # over plain HTTP (a 301 to https) read as unhealthy.
    "labelapp.views.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything that may answer early (the login rate limit's 429 page), so that every
    # page gets its framing and script policy.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "labelapp.csp.ContentSecurityPolicyMiddleware",
    # Before anything reads the body (the CSRF check reads a form): sizes from the header.
    "labelapp.bodylimit.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "labelapp.ratelimit.LoginRateLimitMiddleware",
    # An account a lead made: its first password is changed before anything else.
    "labelapp.passwords.FirstPasswordMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "labelapp.urls"
WSGI_APPLICATION = "labelapp.wsgi.application"
ASGI_APPLICATION = "labelapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database -----------------------------------------------------------------------------
_default_sqlite = f"sqlite:///{VAR_DIR / 'earmark.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_sqlite) or _default_sqlite,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and the test suite are separate processes sharing one file:
    # WAL lets readers go on while one writes, and the timeout rides out short write locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file (not :memory:) so that a worker process can share the test database; one per
    # test process so that two test runs on one checkout do not share it.
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("SQLITE_TEST_NAME", str(VAR_DIR / f"test_earmark_{os.getpid()}.sqlite3"))
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    # The password page is in everyone's menu: "password" and "12345678" were taken.
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Twelve spaces passed every check above.
    {"NAME": "labelapp.passwords.NotOnlySpaceValidator"},
]
# Failed log-ins per username and client address before that pair is refused (429 on the
# login page) until the window, which starts at the first failure, has passed.
AUTHENTICATION_BACKENDS = ["labelapp.ratelimit.RateLimitedModelBackend"]
EARMARK_LOGIN_MAX_FAILURES = env_int("EARMARK_LOGIN_MAX_FAILURES", 10)
EARMARK_LOGIN_FAILURE_WINDOW_S = env_int("EARMARK_LOGIN_FAILURE_WINDOW_S", 15 * 60)
# Proxies in front of the web server that append to X-Forwarded-For (a TLS proxy: 1): the
# login limit counts per client address, and behind a proxy REMOTE_ADDR is the proxy's.
EARMARK_TRUSTED_PROXIES = env_int("EARMARK_TRUSTED_PROXIES", 0)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- I18n ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on a missing root
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Media is never served by a public URL: audio goes through the authenticated API.
MEDIA_URL = "/media-not-public/"

STORAGES = {
    "default": {"BACKEND": "labelapp.media.GuardedFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
# How long a media store that does not answer is waited for: botocore's own 60 s read timeout
# times its retries held a web thread three minutes a request (an S3 outage took every thread,
# the health check's too); a request now fails in seconds with a 503.
EARMARK_S3_CONNECT_TIMEOUT_S = env_float("EARMARK_S3_CONNECT_TIMEOUT_S", 3.0)
EARMARK_S3_READ_TIMEOUT_S = env_float("EARMARK_S3_READ_TIMEOUT_S", 10.0)
EARMARK_S3_ATTEMPTS = env_int("EARMARK_S3_ATTEMPTS", 2)
if AWS_STORAGE_BUCKET_NAME:
    from botocore.config import Config as _S3Config

    # Optional S3-compatible media store (MinIO, Ceph, AWS): `pip install -e .[s3]`.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            "client_config": _S3Config(
                connect_timeout=EARMARK_S3_CONNECT_TIMEOUT_S,
                read_timeout=EARMARK_S3_READ_TIMEOUT_S,
                retries={"total_max_attempts": EARMARK_S3_ATTEMPTS, "mode": "standard"},
            ),
        },
    }

# Uploads: files over this size are refused before they are stored.
EARMARK_MAX_UPLOAD_BYTES = env_int("EARMARK_MAX_UPLOAD_BYTES", 2 * 1024**3)
# An upload request's whole body (labelapp.bodylimit): its files together, and the form.
EARMARK_MAX_UPLOAD_REQUEST_BYTES = env_int(
    "EARMARK_MAX_UPLOAD_REQUEST_BYTES", EARMARK_MAX_UPLOAD_BYTES + 1024**2
)
EARMARK_MAX_DURATION_S = env_float("EARMARK_MAX_DURATION_S", 6 * 3600.0)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 1000)
# A request's data other than files (an annotation's JSON: 2.5 MiB holds ~60,000 segments);
# more is answered 413 with a detail (labelapp.errors).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2621440)
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Personal tokens (Token or Bearer) first: DRF answers a request whose credentials
        # fail (or that has none) with the first class's challenge, here 401 and
        # `WWW-Authenticate: Bearer`, which tells a script to authenticate again; with the
        # session's class first it was a 403. A request without the header goes on to the
        # session; DRF's own keys still work after both.
        "labelapp.authentication.ApiTokenAuthentication",
        # The session's, holding an account whose first password is still to change.
        "labelapp.authentication.HeldSessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "labelapp.pagination.Pages",
    "DEFAULT_PARSER_CLASSES": [
        "labelapp.parsers.JSONParser",  # a body nested too deeply is a 400, not a 500
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "labelapp.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": env_str("LOGIN_RATE", "10/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Earmark API",
    "DESCRIPTION": "Audio labeling with a model in the loop.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Drops duplicate routes from the schema and describes the Label Studio basic auth.
    "PREPROCESSING_HOOKS": ["labelapp.schema.drop_duplicate_routes"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "labelapp.schema.document_error_responses",
    ],
    # Several models have a `status` (or `source`, `format`): name each choice set once.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "labelapp.models.ImportJob.Status",  # ExportJob's is the same set
        "ImportSourceEnum": "labelapp.models.ImportJob.Source",
        "ClipStatusEnum": "labelapp.models.Clip.Status",
        "AnnotationStatusEnum": "labelapp.models.Annotation.Status",
        "AnnotationSourceEnum": "labelapp.models.Annotation.Source",
        "ExportFormatEnum": "labelapp.models.ExportJob.Format",
        "ModelVersionStatusEnum": "ml_backend.models.ModelVersion.Status",
        # PrelabelRun's is the same set
        "TrainingRunStatusEnum": "ml_backend.models.TrainingRun.Status",
    },
}

# --- Cache --------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A dead Redis must cost a request a second at most (the callers fail open).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    # Not local memory: the web processes and the tests' live servers must share the login
    # failure counts. Files need no server and no table.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env_str("EARMARK_CACHE_DIR", str(VAR_DIR / "cache")),
        }
    }

# --- Celery -------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The transport polls its folder; the default of 1 s would cap a busy queue.
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "earmark")
# The model's jobs (training, scoring and ranking) on a queue of their own, for a worker on a
# machine with a GPU: `celery -A labelapp worker -Q <this>` there, the usual worker elsewhere.
# Empty: every task on CELERY_QUEUE.
EARMARK_ML_QUEUE = env_str("EARMARK_ML_QUEUE", "")
CELERY_TASK_ROUTES = (
    {
        f"ml_backend.tasks.{name}": {"queue": EARMARK_ML_QUEUE}
        for name in ("train", "prelabel", "rank", "predictions_rescore_labeled")
    }
    if EARMARK_ML_QUEUE
    else {}
)
CELERY_TASK_IGNORE_RESULT = True  # job state lives in rows (ImportJob, TrainingRun), not results
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-clips": {"task": "labelapp.tasks.clips_sweep_pending", "schedule": 60.0},
    "sweep-stale-trainings": {"task": "ml_backend.tasks.trainings_sweep", "schedule": 60.0},
    "sweep-exports": {"task": "labelapp.tasks.exports_sweep", "schedule": 60.0},
    "sweep-imports": {"task": "labelapp.tasks.imports_sweep", "schedule": 300.0},
    "sweep-deleted-projects": {"task": "labelapp.tasks.projects_purge_sweep", "schedule": 300.0},
}

# Sessions stay in the database only: Django's cached_db store saves a query per request but
# raises on a dead cache at log-in and, worse, cannot delete a logged-out session from a cache
# that is down, which would bring it back with the cache (tests/test_security.py).

# --- Security (production) ----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the workspace JS reads it to send X-CSRFToken
X_FRAME_OPTIONS = "DENY"
# The app's pages forbid inline scripts and other origins (labelapp/csp.py); a deployment
# that must load something else sets its own policy, or "" for none.
if "EARMARK_CSP" in os.environ:
    CONTENT_SECURITY_POLICY = env_str("EARMARK_CSP")
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"}
    },
    "filters": {
        "refusals": {"()": "labelapp.logfilters.RefusalWithoutTraceback"},
        "request_id": {"()": "labelapp.requestid.RequestIdFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["refusals", "request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler (DEBUG on) would print each of its records a second
        # time beside the root's: its records go to the root's handler only.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu warns "No hostname was supplied" for the file-system broker's URL, on every
    # command's start: a URL without a host is what that broker takes.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}

# --- Earmark ------------------------------------------------------------------------------
EARMARK_SYSTEM_USERNAME = "earmark-system"
EARMARK_FSDD_DIR = Path(env_str("EARMARK_FSDD_DIR", str(BASE_DIR.parent / "shared/datasets/fsdd")))
EARMARK_LOCK_SECONDS = env_int("EARMARK_LOCK_SECONDS", 900)
# Clips one annotator holds in a project at once: a place taken past it lets their oldest go
# (one member taking every clip through the lock endpoint emptied everyone else's queue).
EARMARK_MAX_HELD_CLIPS = env_int("EARMARK_MAX_HELD_CLIPS", 10)
# Model versions whose predictions each clip keeps (0: all). Every version scores the
# unlabeled clips again; past this many, a finished scoring run deletes the older ones.
EARMARK_KEEP_PREDICTION_VERSIONS = env_int("EARMARK_KEEP_PREDICTION_VERSIONS", 0)
# Self-supervised pretraining before a project's first training (ml_backend/training.py,
# PRETRAIN): "auto" when that training starts from many labels, 1 for every one, 0 never.
EARMARK_PRETRAIN = env_choice(
    "EARMARK_PRETRAIN",
    "auto",
    {"auto": "auto", **dict.fromkeys(("1", "true", "yes", "on"), "on")}
    | dict.fromkeys(("0", "false", "no", "off"), "off"),
)
