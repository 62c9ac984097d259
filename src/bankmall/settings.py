"""Django settings for bankmall, read from environment variables with safe defaults.

Environment variables (see docs/OPERATIONS.md for the full list):

- ``BANKMALL_ENV``: ``development`` (default) or ``production``. Production turns on every
  secure setting and refuses to start without ``SECRET_KEY`` and ``ALLOWED_HOSTS``.
- ``BANKMALL_DATA_DIR``: where the embedded database, the generated secret key and demo files
  live (default ``./var``).
- ``DATABASE_URL``: any URL dj-database-url understands; default is a SQLite file in the data
  directory, opened in WAL mode with immediate write transactions.
- ``SECRET_KEY``: required in production; generated once and kept in the data directory
  otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

VERSION = "0.1.0"
PACKAGE_DIR = Path(__file__).resolve().parent

ENVIRONMENT = os.environ.get("BANKMALL_ENV", "development").strip().lower()
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"BANKMALL_ENV must be 'development' or 'production', not {ENVIRONMENT!r}"
    )
IS_PRODUCTION = ENVIRONMENT == "production"

DATA_DIR = Path(os.environ.get("BANKMALL_DATA_DIR", "var")).expanduser().resolve()


def _env_bool(name: str, *, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def _env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _secret_key() -> str:
    """Return SECRET_KEY from the environment, or the data directory's generated key.

    Production never generates a key: a key that silently changes would log every user out
    and break every signature made with it.
    """
    from_environment = os.environ.get("SECRET_KEY", "").strip()
    if from_environment:
        return from_environment
    if IS_PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when BANKMALL_ENV=production")
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # Create the file exclusively with owner-only permissions, so a concurrent first run
    # cannot leave two different keys behind.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG", default=False)
ALLOWED_HOSTS = _env_list(
    "ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when BANKMALL_ENV=production")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    # django-otp's own device models (otp_totp, otp_static) keep secrets in clear: the
    # security app's Authenticator and BackupCodeSet devices replace them (SECURITY.md).
    "django_otp",
    "axes",
    "bankmall.core",
    "bankmall.ledger",
    "bankmall.security",
    "bankmall.banking",
    "bankmall.backoffice",
    "bankmall.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "bankmall.core.middleware.RequestIdMiddleware",
    "bankmall.core.middleware.ApiProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Inside locale (its answer is translated), before every view reads a path or query value.
    "bankmall.core.middleware.TextGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "bankmall.security.middleware.IdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Inside CSRF and locale, so the page it renders is translated and carries a CSRF cookie.
    "bankmall.web.middleware.MethodNotAllowedPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "bankmall.core.middleware.SecurityHeadersMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "bankmall.urls"
# A form posted after its session ended: a translated page that says what to do.
CSRF_FAILURE_VIEW = "bankmall.web.views.csrf_failure"
WSGI_APPLICATION = "bankmall.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "bankmall.web.context_processors.site",
            ],
        },
    },
]

# ---------------------------------------------------------------- database

SQLITE_PATH = DATA_DIR / "bankmall.sqlite3"
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{SQLITE_PATH}"
_database = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on busy_timeout instead of failing with "database is
    # locked" halfway through. synchronous=FULL because a committed transfer must survive
    # a power cut, not just a process crash. A 64 MB page cache (2 MB by default) holds the
    # pages a batch of 1,000 transfers touches (~750 plus their parents); a checkpoint every
    # 10,000 WAL pages (1,000 by default) copies a page rewritten by many commits, such as an
    # account's, once per ~13 such batches instead of once per one or two. Measured in
    # docs/performance.md ("SQLite batches: their own queue, cache and checkpoints").
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL;PRAGMA foreign_keys=ON;"
            "PRAGMA cache_size=-65536;PRAGMA wal_autocheckpoint=10000;"
        ),
    }
    if _database["NAME"] != ":memory:":
        Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Tests run on a file, not Django's shared-cache in-memory database: shared cache has
    # table-level locks that fail at once ("database table is locked") instead of waiting, so
    # threaded tests (job workers, concurrent writers) would not see production behaviour.
    _database["TEST"] = {
        "NAME": os.environ.get("TEST_DATABASE_NAME", "").strip() or str(DATA_DIR / "test.sqlite3")
    }
elif _database["ENGINE"] == "django.db.backends.postgresql":
    _database["CONN_MAX_AGE"] = int(os.environ.get("DATABASE_CONN_MAX_AGE", "60"))
    _database["CONN_HEALTH_CHECKS"] = True
    _database.setdefault("TEST", {})
    if os.environ.get("TEST_DATABASE_NAME"):
        _database["TEST"]["NAME"] = os.environ["TEST_DATABASE_NAME"]
else:
    raise ImproperlyConfigured(
        f"DATABASE_URL must name a sqlite or postgresql database, not {_database['ENGINE']}"
    )
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- cache (rate limits, sessions)

# Several app servers must share rate-limit counters: production sets REDIS_URL. Without it each
# process counts on its own, which is right for the single-machine demo.
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Request budgets per client for the HTTP API ("count/period", period s, m, h or d). Over budget
# the API answers 429 with Retry-After (API.md).
API_RATE_ANONYMOUS = os.environ.get("API_RATE_ANONYMOUS", "120/m")
API_RATE_AUTHENTICATED = os.environ.get("API_RATE_AUTHENTICATED", "600/m")

# ---------------------------------------------------------------- auth

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTH_USER_MODEL = "security.User"
LOGIN_URL = "/login/"
# Customers land in the net bank after signing in (staff go to the back office).
LOGIN_REDIRECT_URL = "/bank/"
# Axes first: a locked-out username/address pair never reaches the password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout (django-axes): after AXES_FAILURE_LIMIT failed passwords or one-time codes for one
# username from one address, that pair is locked for AXES_COOLOFF_TIME hours.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("LOGIN_LOCKOUT_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "bankmall.security.views.locked_out"
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "otp", "token", "refresh_token"]
# TOTP is mandatory for these kinds of principal (DESIGN: staff and net bank customers).
TOTP_REQUIRED_KINDS = _env_list("TOTP_REQUIRED_KINDS", ["staff", "customer", "merchant"])
OTP_TOTP_ISSUER = "bankmall"
# Idle timeout in seconds per kind of principal (net bank: 10 minutes).
SESSION_IDLE_SECONDS = {
    "customer": int(os.environ.get("SESSION_IDLE_SECONDS_CUSTOMER", "600")),
    "merchant": int(os.environ.get("SESSION_IDLE_SECONDS_MERCHANT", "1800")),
    "staff": int(os.environ.get("SESSION_IDLE_SECONDS_STAFF", "900")),
}
# Pages warn this many seconds before the idle timeout, with a "stay signed in" button.
SESSION_TIMEOUT_WARNING_SECONDS = int(os.environ.get("SESSION_TIMEOUT_WARNING_SECONDS", "60"))
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(12 * 3600)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# A step-up (re-entered one-time code) allows its protected action for this long.
STEP_UP_MINUTES = int(os.environ.get("STEP_UP_MINUTES", "5"))
# Transfers of at least this many minor units need a step-up one-time code (5,000.00 CNY).
BANKING_STEP_UP_AMOUNT_MINOR = int(os.environ.get("BANKING_STEP_UP_AMOUNT_MINOR", "500000"))
# API bearer tokens (API.md): short-lived access tokens, longer-lived single-use refresh tokens.
API_ACCESS_TOKEN_SECONDS = int(os.environ.get("API_ACCESS_TOKEN_SECONDS", "900"))
API_REFRESH_TOKEN_SECONDS = int(os.environ.get("API_REFRESH_TOKEN_SECONDS", str(7 * 86400)))
# A replayable API response (Idempotency-Key) is kept this many days, then deleted by the
# scheduled job "api-idempotency-cleanup"; API.md promises at least 24 hours.
API_IDEMPOTENCY_RETENTION_DAYS = int(os.environ.get("API_IDEMPOTENCY_RETENTION_DAYS", "7"))
if API_IDEMPOTENCY_RETENTION_DAYS < 1:
    raise ImproperlyConfigured(
        "API_IDEMPOTENCY_RETENTION_DAYS must be at least 1 (API.md: 24 hours)"
    )
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", "3600"))
# Maker-checker thresholds per action type, in minor units (JSON), e.g. {"payments.refund": 100000};
# an action without a threshold always needs a second member of staff.
APPROVAL_THRESHOLDS_MINOR = json.loads(os.environ.get("APPROVAL_THRESHOLDS_MINOR", "{}") or "{}")
# Personal data kept after an erasure request only as long as the law requires (in days).
PRIVACY_RETENTION_DAYS = int(os.environ.get("PRIVACY_RETENTION_DAYS", str(5 * 365)))

# ---------------------------------------------------------------- e-mail

DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "bankmall <no-reply@bankmall.invalid>")
if os.environ.get("EMAIL_HOST", "").strip():
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"].strip()
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", default=True)
elif not IS_PRODUCTION:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# ---------------------------------------------------------------- field encryption

# Key ring for encrypted personal data (AES-256-GCM). Production: FIELD_ENCRYPTION_KEYS is
# "id:base64key,id:base64key" and FIELD_ENCRYPTION_ACTIVE_KEY names the key new values use;
# BLIND_INDEX_KEY keys the exact-match search hashes (the deploy checks fail without them).
# Elsewhere the ring is generated once in the data directory (keyring.json, owner-only).
FIELD_ENCRYPTION_KEYS = os.environ.get("FIELD_ENCRYPTION_KEYS", "").strip()
FIELD_ENCRYPTION_ACTIVE_KEY = os.environ.get("FIELD_ENCRYPTION_ACTIVE_KEY", "").strip()
BLIND_INDEX_KEY = os.environ.get("BLIND_INDEX_KEY", "").strip()
KEYRING_PATH = DATA_DIR / "keyring.json"

# ---------------------------------------------------------------- i18n

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
# Each app keeps its own catalogue in <app>/locale/ (found by Django for installed apps).
USE_I18N = True
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_TZ = True
DEFAULT_CURRENCY = "CNY"

# ---------------------------------------------------------------- static files

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", str(DATA_DIR / "static"))).resolve()
if not IS_PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Outside production whitenoise serves straight from the app folders, so `make demo` needs no
# collectstatic step.
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = False

# ---------------------------------------------------------------- security

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "bankmall_session"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if _env_bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Key for the hash-chained audit log's HMAC. Kept apart from SECRET_KEY so that the session key
# can be rotated without re-keying the audit chain.
AUDIT_CHAIN_KEY = os.environ.get("AUDIT_CHAIN_KEY", "").strip() or SECRET_KEY
# Independent hash chains of the audit log (PostgreSQL): one per concurrently writing
# connection avoids queueing behind one lock; more connections than lanes share lanes safely.
AUDIT_LANES = int(os.environ.get("AUDIT_LANES", "64"))

# ---------------------------------------------------------------- background jobs

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "").strip() or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    # The embedded broker: one folder of message files shared by the app and the worker.
    _queue_dir = DATA_DIR / "queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        # kombu keeps its exchange tables in ./control by default; keep them with the queue.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None  # Jobs record their outcome in the database themselves.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "integrity-checks": {
        "task": "core.run_integrity_checks",
        "schedule": crontab(hour=int(os.environ.get("INTEGRITY_CHECK_HOUR", "2")), minute=30),
    },
    # Replayable API responses older than API_IDEMPOTENCY_RETENTION_DAYS.
    "api-idempotency-cleanup": {
        "task": "banking.purge_api_idempotency_records",
        "schedule": crontab(hour=3, minute=15),
    },
    # Pending transfers whose timeout passed stop reserving funds within about a minute.
    "ledger-expiry": {
        "task": "ledger.expire_pending_transfers",
        "schedule": crontab(minute="*"),
    },
    # End of day after the evening cut-off (local time, CELERY_TIMEZONE).
    "end-of-day": {
        "task": "core.run_end_of_day",
        "schedule": crontab(
            hour=int(os.environ.get("EOD_HOUR", "22")),
            minute=int(os.environ.get("EOD_MINUTE", "0")),
        ),
    },
}

# NATS JetStream for the outbox relay (`bankmall relay`); empty means events stay in the outbox.
NATS_URL = os.environ.get("NATS_URL", "").strip()
NATS_STREAM = os.environ.get("NATS_STREAM", "BANKMALL").strip()
NATS_SUBJECT_PREFIX = os.environ.get("NATS_SUBJECT_PREFIX", "bankmall").strip()

# The absolute base for RFC 9457 problem "type" URIs; empty means "this request's host".
PROBLEM_BASE_URL = os.environ.get("PROBLEM_BASE_URL", "").strip()

# ---------------------------------------------------------------- logging

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"quiet_permission_denied": {"()": "bankmall.core.logs.QuietPermissionDenied"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 403 is an expected answer: one line with the request id, no traceback.
        "django.request": {"filters": ["quiet_permission_denied"]},
    },
}
