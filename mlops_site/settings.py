"""Settings for the whole site, driven by environment variables (see README, "Configuration")."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from mlops_site.env import env_bool, env_int, env_list, env_rate, env_str, load_or_create_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Environment, read once -------------------------------------------------------------
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()
DEBUG = env_bool("DEBUG", False)
# Behind TLS (the production default): secure cookies, HSTS and the HTTPS redirect.
# `make run` serves plain HTTP on the loopback interface and sets HTTPS=0.
HTTPS = env_bool("HTTPS", not DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
DATABASE_URL = env_str("DATABASE_URL", "")
REDIS_URL = env_str("REDIS_URL", "")
SECRET_KEY = env_str("SECRET_KEY", "") or load_or_create_secret_key(DATA_DIR / "secret_key")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media"))).resolve()
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static"))).resolve()

# --- Applications -----------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Ours, bottom layer first (see docs/architecture.md). mlops_site comes before django_q so that its
    # `qcluster` command (django-q2's, with preloading and parent-death signals) is the one manage.py runs.
    "mlops_site",
    "django_q",
    "experiments",
    "registry",
    "deployments",
    "monitoring",
    "mlflow_compat",  # MLflow's REST surface over the apps above
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mlops_site.middleware.RequestIdMiddleware",
    "mlops_site.middleware.RequestTextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mlops_site.middleware.PageLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: its process_view runs after the CSRF and login checks (see mlops_site/idempotency.py).
    "mlops_site.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "mlops_site.urls"
WSGI_APPLICATION = "mlops_site.wsgi.application"

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
                "mlops_site.context_processors.navigation",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)  # the SQLite file, media and secret key live here
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{DATA_DIR / 'mlops.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web process read while a worker writes; IMMEDIATE takes the write lock
        # at BEGIN so two writers queue on the busy timeout instead of failing with
        # "database is locked" when a read transaction upgrades (measured in NOTES.md).
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so a worker process started by a test can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-mlops.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (shared between web and workers: qinfo, cluster stats) ------------------------
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "mlops_cache"}}

# --- Jobs (django-q2) -------------------------------------------------------------------
JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 10)
# A running job whose heartbeat is older than this is taken to have lost its worker.
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 90)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)
# A job still queued after this long while the broker's queue is empty is re-sent (its task was lost).
JOB_RESEND_QUEUED_SECONDS = env_int("JOB_RESEND_QUEUED_SECONDS", 300)
JOB_LOG_TAIL_CHARS = 20_000
# Per-user limits on the jobs a person can start from the API or a page, by job kind ("count/period" or "off").
# A sweep counts one training job per trial. Over the limit: 429 with Retry-After (API), a message (pages).
JOB_RATE_LIMITS = {
    "system.selfcheck": env_rate("RATE_LIMIT_SELFCHECK", "10/hour"),
    "monitor.run": env_rate("RATE_LIMIT_MONITOR_RUNS", "60/hour"),
    "training.run": env_rate("RATE_LIMIT_TRAINING", "300/hour"),
}

_q_timeout = env_int("Q_TIMEOUT", 3600)
Q_CLUSTER = {
    "name": env_str("Q_CLUSTER_NAME", "mlops"),
    "workers": env_int("Q_WORKERS", 2),
    "timeout": _q_timeout,
    # Must exceed timeout, or a long task is delivered a second time while still running.
    "retry": env_int("Q_RETRY", _q_timeout + 120),
    "max_attempts": JOB_MAX_ATTEMPTS,
    "recycle": env_int("Q_RECYCLE", 100),
    # Unset: `manage.py qcluster` replaces a worker by its private memory instead (WORKER_MAX_PRIVATE_MB).
    "max_rss": env_int("Q_MAX_RSS_KB", 0) or None,
    "save_limit": 500,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.5,
    "label": "Task queue",
    "sync": env_bool("Q_SYNC", False),
}
# `manage.py qcluster` imports the ML stack once before forking its workers, which then share it (see
# mlops_site/management/commands/qcluster.py); off, each worker imports it on its first job instead.
WORKER_PRELOAD = env_bool("WORKER_PRELOAD", True)
# A worker holding more memory of its own than this after a job is replaced, so a finished training does not
# keep its data and model; with the ML stack preloaded a new worker is a cheap fork. Q_MAX_RSS_KB overrides it.
WORKER_MAX_PRIVATE_MB = env_int("WORKER_MAX_PRIVATE_MB", 64)
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Serving ----------------------------------------------------------------------------
SERVING_MAX_ROWS = env_int("SERVING_MAX_ROWS", 10_000)  # rows per predict request
SERVING_MAX_BODY_MB = env_int("SERVING_MAX_BODY_MB", 32)  # a bigger predict body is a 413, refused unread
SERVING_CACHE_SIZE = env_int("SERVING_CACHE_SIZE", 8)  # fitted pipelines kept per process
# Django's own limit on a body read into memory agrees with serving's, so the documented 10,000-row
# predict batch is not refused (with an HTML 400) before SERVING_MAX_BODY_MB applies.
DATA_UPLOAD_MAX_MEMORY_SIZE = SERVING_MAX_BODY_MB * 1024 * 1024

# --- Datasets ---------------------------------------------------------------------------
DATASET_MAX_UPLOAD_BYTES = env_int("DATASET_MAX_UPLOAD_MB", 500) * 1024 * 1024
# Checked from Parquet metadata / the CSV's line count before a file is read: a few MB of Parquet can
# hold tens of millions of rows. 50 million values is about 400 MB as float64 in the web process.
DATASET_MAX_ROWS = env_int("DATASET_MAX_ROWS", 5_000_000)
DATASET_MAX_CELLS = env_int("DATASET_MAX_CELLS", 50_000_000)
# Quality-check thresholds (fractions of rows unless said otherwise); see experiments/quality.py.
DATASET_QUALITY_THRESHOLDS = {
    "missing_warn": 0.05,  # a column with more missing values than this warns...
    "missing_fail": 0.30,  # ...and fails above this
    "duplicate_warn": 0.0,  # any duplicate row warns
    "duplicate_fail": 0.05,
    "outlier_method": "iqr",  # outside [Q1 - k·IQR, Q3 + k·IQR]
    "iqr_k": 3.0,
    "outlier_warn": 0.001,  # k=3 is already strict: a handful of such values is worth a look
    "imbalance_warn": 0.2,  # minority class share below this warns...
    "imbalance_fail": 0.05,  # ...and fails below this
    "target_missing_fail": 0.0,  # any row without a target fails
}

# --- Runs -------------------------------------------------------------------------------
RUN_LOG_BATCH_LIMIT = env_int("RUN_LOG_BATCH_LIMIT", 10_000)  # metric points per log-batch call
ARTIFACT_MAX_UPLOAD_BYTES = env_int("ARTIFACT_MAX_UPLOAD_MB", 500) * 1024 * 1024
METRIC_HISTORY_MAX_POINTS = 2_000  # default downsampling for charts and the history endpoint
# Permutation importance after training costs features × repeats predictions of the holdout.
TRAINING_IMPORTANCE_REPEATS = env_int("TRAINING_IMPORTANCE_REPEATS", 5)  # shuffles per feature
TRAINING_IMPORTANCE_MAX_ROWS = env_int("TRAINING_IMPORTANCE_MAX_ROWS", 10_000)  # holdout rows sampled per shuffle

# --- Model files ------------------------------------------------------------------------
# Types (module.Name, comma-separated) a skops model may hold beyond scikit-learn's estimators and the
# platform's allow-list (experiments.model_files), e.g. a FunctionTransformer's function from your package.
MODEL_TRUSTED_TYPES = tuple(env_list("MODEL_TRUSTED_TYPES", []))
MODEL_MAX_UPLOAD_BYTES = env_int("MODEL_MAX_UPLOAD_MB", 200) * 1024 * 1024

# --- Idempotency (Idempotency-Key header, one-time form tokens) -------------------------
IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24)  # a key's first answer is replayed this long
IDEMPOTENCY_STALE_SECONDS = env_int("IDEMPOTENCY_STALE_SECONDS", 900)  # a claim this old lost its request
IDEMPOTENCY_FORM_WAIT_SECONDS = env_int("IDEMPOTENCY_FORM_WAIT_SECONDS", 20)  # a double click waits for the first

# --- Auth -------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600)
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 90)
# Wrong passwords (page, admin and token logins) counted per username and per client address within the window;
# reaching either limit locks that username or address out for LOGIN_LOCKOUT_SECONDS (0 turns a limit off).
LOGIN_FAILURES_PER_USER = env_int("LOGIN_FAILURES_PER_USER", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)

# --- Security ---------------------------------------------------------------------------
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz must answer load balancers over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"

# --- I18N -------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media files -------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.min.js straight from the installed plotly package: always the matching version.
    "mlops_site.staticfinders.PlotlyFinder",
]
MEDIA_URL = "media/"
# Datasets may hold personal data: stored files and their folders are readable by the site's user only.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Object storage: AWS_STORAGE_BUCKET_NAME switches every stored file (datasets, artifacts, model files) to an
# S3-compatible bucket through django-storages, configured with its own setting names; without it, MEDIA_ROOT.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "")
DEFAULT_STORAGE: dict = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if AWS_STORAGE_BUCKET_NAME:
    DEFAULT_STORAGE = {
        "BACKEND": "mlops_site.storage.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,  # MinIO, Ceph, R2, moto ...
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID", "") or None,  # else boto3's own credential chain
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY", "") or None,
            "location": env_str("AWS_LOCATION", ""),  # a key prefix inside the bucket
            # Every name is new (mlops_site.storage), so there is nothing to overwrite or to ask the bucket about.
            "file_overwrite": True,
            "default_acl": None,  # the bucket's own policy: private; the site serves every download
            "querystring_auth": True,
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 300),
        },
    }
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": env_str("STATICFILES_STORAGE", "whitenoise.storage.CompressedManifestStaticFilesStorage")
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Mail -------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "mlops@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Who hears about alerts whose rule names no addresses (comma-separated).
ALERT_EMAILS = env_list("ALERT_EMAILS", [])
# The site's address as people reach it, for links in e-mails (e.g. https://mlops.example.com).
SITE_URL = env_str("SITE_URL", "")
# Webhook URLs that resolve to loopback, private, link-local or other non-public addresses are refused unless set.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: unauthenticated API calls then get 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mlops_site.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "mlops_site.api.pagination.StandardPagination",
    "DEFAULT_METADATA_CLASS": "mlops_site.api.metadata.Metadata",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mlops_site.api.exceptions.exception_handler",
    # Bodies the databases cannot store (NUL, lone surrogates, 1e400, deep nesting) are a 400 here.
    "DEFAULT_PARSER_CLASSES": [
        "mlops_site.api.parsers.SafeJSONParser",
        "mlops_site.api.parsers.SafeFormParser",
        "mlops_site.api.parsers.SafeMultiPartParser",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Throttles key on the client address: trust X-Forwarded-For only from our own proxy.
    "NUM_PROXIES": 1 if env_bool("BEHIND_PROXY", False) else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MLOps platform API",
    "DESCRIPTION": (
        "Datasets, experiments, the model registry, deployments and monitoring. "
        "Authenticate with `Authorization: Token <key>` (get one from `POST /api/auth/token/` "
        "or your profile page) or with the browser session."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mlops_site.idempotency.document_header",
    ],
    # Several models have a "status"; name each choice set so the schema stays readable.
    "ENUM_NAME_OVERRIDES": {
        "DriftReportStatusEnum": "monitoring.models.DriftReport.Status",
        "JobStatusEnum": "mlops_site.models.Job.Status",
        "RunStatusEnum": "experiments.models.Run.Status",
        "RunFinishStatusEnum": ["finished", "failed", "killed"],
        "ModelStageEnum": "registry.models.ModelVersion.Stage",
        "ModelFormatEnum": "registry.models.ModelVersion.Format",
        "DatasetFormatEnum": "experiments.models.DatasetVersion.Format",
        "PromotionStageEnum": [("staging", "Staging"), ("production", "Production")],
        "RetrainingPolicyStageEnum": ["staging", "production"],
        "PromotionStatusEnum": "registry.models.PromotionRequest.Status",
        "PromotionKindEnum": "registry.models.PromotionRequest.Kind",
        "PromotionGatesEnum": "registry.models.PromotionRequest.Gates",
        "WebhookDeliveryStatusEnum": "mlops_site.models.WebhookDelivery.Status",
    },
}

# --- Logging ----------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
