"""Settings for Venture CRM, driven by environment variables (see README "Configuration").

Defaults give a working local install: SQLite in ./data, DEBUG off, a generated secret key
kept beside the database.
"""

from __future__ import annotations

import datetime
import socket
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from crm.lib.env import env_bool, env_choice, env_int, env_list, env_str, persistent_secret_key
from crm.lib.private_files import PrivateFileConnection

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CRM_DATA_DIR") or BASE_DIR / "data").resolve()
# Owner-only from the start (the umask can only take bits away); crm.apps tightens an
# existing folder and the database files in it (crm/lib/private_files.py).
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

VERSION = "0.1.0"

SECRET_KEY = env_str("DJANGO_SECRET_KEY") or persistent_secret_key(DATA_DIR / "secret_key")
DEBUG = env_bool("CRM_DEBUG", False)

ALLOWED_HOSTS = env_list(
    "CRM_ALLOWED_HOSTS",
    ["localhost", "127.0.0.1", "[::1]", socket.gethostname(), f"{socket.gethostname()}.local"],
)
CSRF_TRUSTED_ORIGINS = env_list("CRM_CSRF_TRUSTED_ORIGINS", [])
for origin in CSRF_TRUSTED_ORIGINS:
    if "://" not in origin:
        raise ImproperlyConfigured(
            f"CRM_CSRF_TRUSTED_ORIGINS entry {origin!r} needs a scheme, e.g. https://crm.example.ts.net"
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "csp",
    "django_filters",
    "django_htmx",
    "import_export",
    "simple_history",
    "template_partials",
    # The JSON API (crm/api/): its docs page's template and Swagger UI files, served from our static.
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "crm",
    "contacts",
    "pipeline",
    "lps",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): has this session passed the second step of sign-in?
    "django_otp.middleware.OTPMiddleware",
    # Every view needs a signed-in user unless it is marked @login_not_required
    # (sign-in, /health/); static files never reach it (WhiteNoise answers first).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # A signed-in user who owes a code, or must enrol first, sees nothing else (crm/security).
    "crm.security.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Late, as django-axes asks: it turns a lockout flagged during sign-in into the response.
    "axes.middleware.AxesMiddleware",
    # Last, so the whole view (and nothing before it) is one transaction per writing request.
    # (Axes has no process_view, so it is not skipped when this one answers.)
    "crm.middleware.AtomicWritesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

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
                "crm.context_processors.layout",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite in the data folder by default. WAL lets readers run beside a writer; IMMEDIATE
# transactions take the write lock up front so concurrent writers from several gunicorn
# workers wait (busy timeout) instead of failing with "database is locked" mid-transaction.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL this app understands: {exc}") from None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "crm.sqlite3",
            "OPTIONS": {
                # Creates a new database file 0600 before SQLite does (crm/lib/private_files.py).
                "factory": PrivateFileConnection,
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA temp_store=MEMORY;"
                    "PRAGMA cache_size=-20000;"
                ),
            },
        }
    }

# --- Background tasks ------------------------------------------------------------------
# Dry runs, imports and large undos run in the worker (`manage.py db_worker`, started by
# `make run` / `make serve` beside gunicorn), queued in this database through django-tasks'
# database backend: the same API as Django 6's django.tasks. The test suite runs tasks with
# the immediate backend (conftest.py), except the tests that start a real worker process.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- Outgoing email (the daily digest) ----------------------------------------------------
# Off unless CRM_EMAIL_HOST is set: no mail leaves the machine, and `manage.py send_digest`
# says so. The server and credentials come from the environment only, never the database.
CRM_EMAIL_HOST = env_str("CRM_EMAIL_HOST")
CRM_EMAIL_ENABLED = bool(CRM_EMAIL_HOST)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if CRM_EMAIL_ENABLED
    else "django.core.mail.backends.dummy.EmailBackend"
)
EMAIL_HOST = CRM_EMAIL_HOST or "localhost"
EMAIL_PORT = env_int("CRM_EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("CRM_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_str("CRM_EMAIL_PASSWORD")
_email_security = env_choice("CRM_EMAIL_SECURITY", "starttls", ("starttls", "ssl", "none"))
EMAIL_USE_TLS = _email_security == "starttls"
EMAIL_USE_SSL = _email_security == "ssl"
EMAIL_TIMEOUT = env_int("CRM_EMAIL_TIMEOUT", 20, minimum=1, maximum=600)
DEFAULT_FROM_EMAIL = env_str("CRM_EMAIL_FROM", "Venture CRM <crm@localhost>")
# Links in emails are absolute: the address the team reaches the site at.
CRM_BASE_URL = env_str("CRM_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# The local hour (CRM_TIME_ZONE) from which `run_schedule` sends the morning digest.
CRM_DIGEST_HOUR = env_int("CRM_DIGEST_HOUR", 7, minimum=0, maximum=23)
# How often `run_schedule` queues a sync of every connected mailbox.
CRM_SYNC_MINUTES = env_int("CRM_SYNC_MINUTES", 5, minimum=1, maximum=24 * 60)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "crm.User"

AUTH_PASSWORD_VALIDATORS = [
    {
        # Our User has one full_name instead of first/last names: compare against that.
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("username", "full_name", "email")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes first: it refuses a locked-out sign-in before any password is checked. Then
# Django's ModelBackend, which also loads the signed-in user's two-factor state (crm/security).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "crm.security.backends.TwoFactorAwareModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("CRM_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic writes and WhiteNoise serves from; the benchmark points it into its throwaway folder.
STATIC_ROOT = Path(env_str("CRM_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security -------------------------------------------------------------------------
CRM_HTTPS = env_bool("CRM_HTTPS", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("CRM_SESSION_DAYS", 14, minimum=1, maximum=365) * 24 * 3600
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = CRM_HTTPS
CSRF_COOKIE_SECURE = CRM_HTTPS
SECURE_SSL_REDIRECT = CRM_HTTPS
SECURE_HSTS_SECONDS = 31536000 if CRM_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = CRM_HTTPS
SECURE_HSTS_PRELOAD = CRM_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
if env_bool("CRM_BEHIND_TLS_PROXY", False):
    # Only behind a proxy that sets (and strips client-sent) X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Scripts and styles from our own origin only: no inline code, no eval, no other host.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# --- Sign-in throttling (django-axes) and two-factor authentication (django-otp) -------
# After CRM_LOGIN_FAILURES failed sign-ins for one username, or from one address, further
# attempts are refused until CRM_LOGIN_COOLOFF_MINUTES have passed since the last failure.
# Attempts live in the database (AccessAttempt in the admin), so every gunicorn worker sees them.
AXES_FAILURE_LIMIT = env_int("CRM_LOGIN_FAILURES", 5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("CRM_LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=7 * 24 * 60))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The sign-in forms show the lockout message themselves (crm/security/throttle.py).
AXES_LOCKOUT_CALLABLE = "crm.security.throttle.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# The client's address: REMOTE_ADDR, unless CRM_TRUSTED_PROXIES says how many proxies in
# front append to X-Forwarded-For (then the address the outermost of them saw).
CRM_TRUSTED_PROXIES = env_int("CRM_TRUSTED_PROXIES", 0, minimum=0, maximum=10)
AXES_CLIENT_IP_CALLABLE = "crm.security.throttle.client_ip"
AXES_VERBOSE = False  # no start-up banner in every manage.py command's output

# Who must have a second factor: off, staff (admins and managers) or everyone. An admin can
# raise it in the admin ("Security policy"); the stricter of the two applies.
CRM_2FA_REQUIRED = env_choice("CRM_2FA_REQUIRED", "off", ("off", "staff", "everyone"))
OTP_TOTP_ISSUER = "Venture CRM"

# Passkeys (WebAuthn, django-otp-webauthn) as a second factor, never instead of the password.
# A passkey belongs to a relying party id, a domain: the host the CRM is reached on unless
# CRM_WEBAUTHN_RP_ID names a parent domain (e.g. example.com for crm.example.com). Changing
# it later orphans every registered passkey. The browser signs the page's origin; it must be
# the request's own (scheme and host as ALLOWED_HOSTS let it in): crm/security/passkeys.py.
CRM_WEBAUTHN_RP_ID = env_str("CRM_WEBAUTHN_RP_ID")
OTP_WEBAUTHN_RP_ID_CALLABLE = "crm.security.passkeys.relying_party_id"
OTP_WEBAUTHN_RP_NAME = env_str("CRM_WEBAUTHN_RP_NAME", "Venture CRM")
OTP_WEBAUTHN_HELPER_CLASS = "crm.security.passkeys.PasskeyHelper"
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
# A passkey prompt gives up after two minutes; the user clicks again.
OTP_WEBAUTHN_TIMEOUT_SECONDS = 120
# otp_webauthn.E030 wants a fixed list of origins; ours is the request's own (see above).
SILENCED_SYSTEM_CHECKS = ["otp_webauthn.E030"]

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("CRM_MAX_UPLOAD_MB", 20, minimum=1, maximum=1024) * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20000  # bulk actions post one id per selected row
# LP documents (subscription documents, K-1s…): stored here, never under a public URL
# (lps.documents); included in backups. The largest file accepted, in MB.
DOCUMENTS_DIR = DATA_DIR / "documents"
CRM_DOCUMENT_MAX_MB = env_int("CRM_DOCUMENT_MAX_MB", 20, minimum=1, maximum=1024)
# The largest CSV the import wizard and import_airtable accept, per file.
CRM_IMPORT_MAX_MB = env_int("CRM_IMPORT_MAX_MB", 10, minimum=1, maximum=512)
# Requests one API token (or one signed-in user) may make, as "<count>/<s|min|hour|day>".
CRM_API_RATE = env_str("CRM_API_RATE", "300/min")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("CRM_LOG_LEVEL", "INFO").upper()},
}

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# Demo accounts whose password is still the published one make `check --deploy` warn.
CRM_DEMO_PASSWORDS = {"admin": "admin123", "grant": "password"}

# `manage.py backup` / `restore` (crm/backups/services.py): where backups go, and how many days of
# daily backups retention keeps (0 keeps everything).
CRM_BACKUP_DIR = Path(env_str("CRM_BACKUP_DIR") or BASE_DIR / "backups").resolve()
CRM_BACKUP_KEEP_DAYS = env_int("CRM_BACKUP_KEEP_DAYS", 30, minimum=0, maximum=36500)
