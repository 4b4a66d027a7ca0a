"""The one settings module: every deployment difference comes from the environment.

Nothing here branches on "test" or "production"; the environment says what it wants
(`DEBUG`, `SECRET_KEY`, `DATABASE_URL`, `REDIS_URL`, ...) and bad values fail loudly.
"""

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

from project.env import (  # noqa: E402
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_proxy_header,
    env_rate,
    load_dotenv,
)
from project.logs import FORMATS, FORMATTERS  # noqa: E402

# ENV_FILE names another file; set it empty to read none (the tests of this module do).
_env_file = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    load_dotenv(Path(_env_file))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in the environment when DEBUG is off "
            "(for local development set DEBUG=1, or use `make run`)."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

# Key rotation in a rolling deploy: the new key in SECRET_KEY, the old one here until every session and
# signed consent page made with it has expired (docs/deployment.md).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

# Seals the audit webhooks' signing secrets at rest (accounts/sealed.py): comma-separated, the first
# seals, all unseal (rotation). Kept apart from SECRET_KEY so rotating one never strands the other.
AUDIT_SECRET_KEYS = env_list("AUDIT_SECRET_KEY", [])
if not AUDIT_SECRET_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "AUDIT_SECRET_KEY must be set in the environment when DEBUG is off: it encrypts the audit "
            "webhooks' signing secrets (make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')."
        )
    AUDIT_SECRET_KEYS = ["insecure-development-audit-key:" + SECRET_KEY]
if any(len(key) < 32 for key in AUDIT_SECRET_KEYS):
    raise ImproperlyConfigured("AUDIT_SECRET_KEY: every key must be at least 32 characters long.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Second factors (accounts.factors): TOTP devices and single-use recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "accounts",
    # Before oauth2_provider: its `createapplication` command replaces DOT's (Django runs the
    # command of the app listed first), so apps are registered through our services.
    "scopes",
    "oauth2_provider",
    "api",
    "photos",
]

MIDDLEWARE = [
    # Request id, metrics and the access log around everything; then the operators' paths
    # (/healthz, /readyz, /metrics), answered before sessions, HTTPS redirects or tenancy.
    "project.observability.ObservabilityMiddleware",
    "project.health.HealthMiddleware",
    # No control character in anything a request sends reaches a view or the database (a NUL
    # is a PostgreSQL DataError): before sessions, whose cookie is looked up in the database.
    "project.middleware.ControlCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "project.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # One transaction per request, entering what it may see (PostgreSQL row-level security).
    "accounts.middleware.TenancyMiddleware",
    # ADMIN_REQUIRES_SECOND_FACTOR: the admin opens only to a session that gave a second factor.
    "accounts.factor_views.AdminSecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

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

# No DATABASE_URL: an SQLite file next to the code, so the quick start needs no server.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
        # A kept connection is checked before a request reuses it: after a database restart a
        # worker reconnects instead of failing its first request on the dead connection (costs
        # one round trip per request, only when DB_CONN_MAX_AGE keeps connections).
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The quick start's server runs requests in threads beside the bookkeeping thread
    # (accounts.background). A deferred transaction that reads and then writes fails at once with
    # "database is locked" when another connection is writing; one that takes the write lock when
    # it begins waits its turn instead (up to `timeout` seconds). SQLite is for development only.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Statements that ask to be prepared are (protocol-level, psycopg's `prepare=True`): the API's
    # probe and the grant queries of the cold path and the OAuth endpoints (scopes.access.rows), to
    # plan each once per connection. Django's
    # own statements bind parameters on the client and are never prepared, whatever this says.
    # DB_PREPARED_STATEMENTS=0 for a pooler that cannot keep them (PgBouncer before 1.21, or 1.21+
    # in transaction mode without `max_prepared_statements`): docs/deployment.md.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        0 if env_bool("DB_PREPARED_STATEMENTS", True) else None
    )

# PostgreSQL tenancy (docs/security.md): DATABASE_URL is the runtime role the app connects as
# (no table ownership, no BYPASSRLS); MIGRATION_DATABASE_URL is the owner, used only by
# `manage.py migrate --database owner` and `manage.py setup_rls`. Web processes need not have it.
MIGRATION_DATABASE_URL = os.environ.get("MIGRATION_DATABASE_URL", "")
if MIGRATION_DATABASE_URL:
    DATABASES["owner"] = dj_database_url.parse(MIGRATION_DATABASE_URL)
# The runtime role's name when it is not DATABASE_URL's user (tests: requests run as it).
DATABASE_RUNTIME_ROLE = os.environ.get("DATABASE_RUNTIME_ROLE", "")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

REDIS_URL = os.environ.get("REDIS_URL", "")
# Rate limit counters have an alias of their own (accounts.ratelimit): when Redis is down the
# default cache answers as empty (callers read the database) while the counters fall back to
# per-process memory and keep limiting. project/cache.py; docs/security.md, "When the cache is down".
if REDIS_URL:
    _redis_timeout = env_int("REDIS_TIMEOUT_MS", 500) / 1000  # a dead Redis costs this, not seconds
    _redis: dict[str, Any] = {
        "BACKEND": "project.cache.RedisCache",  # django-redis that never raises into a request
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "gp"),
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": _redis_timeout,
            "SOCKET_TIMEOUT": _redis_timeout,
            "RETRY_SECONDS": env_int("REDIS_RETRY_SECONDS", 5),  # how long to skip a Redis that failed
        },
    }
    CACHES = {"default": _redis, "ratelimit": {**_redis, "OPTIONS": {**_redis["OPTIONS"], "OUTAGE": "local"}}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit"},
    }
# How many token contexts each process keeps (scopes.access.cache); 0 turns the cache off. Entries
# need no expiry time: every request proves its entry fresh against the database (scopes.access.freshness).
AUTHORIZATION_CACHE_ENTRIES = env_int("AUTHORIZATION_CACHE_ENTRIES", 10_000)
# Personal access tokens: "last used" is written at most once per token per this many minutes per
# process (scopes.machines.usage). Service accounts: how long a rotated client secret still works.
PERSONAL_TOKEN_LAST_USED_MINUTES = env_int("PERSONAL_TOKEN_LAST_USED_MINUTES", 5)
SERVICE_ACCOUNT_SECRET_OVERLAP_HOURS = env_int("SERVICE_ACCOUNT_SECRET_OVERLAP_HOURS", 24)
# Scope usage and personal tokens' last use are noted in memory and written by each process's
# bookkeeping thread every this many seconds, and at exit (accounts.background); 0: no thread.
BOOKKEEPING_FLUSH_SECONDS = env_int("BOOKKEEPING_FLUSH_SECONDS", 5)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# "27 Nov 2026, 14:05" everywhere, the admin included (project/formats/en/formats.py).
FORMAT_MODULE_PATH = ["project.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
# Object storage: with a bucket named, images go to a private S3-compatible bucket through
# django-storages (photos/storage.py); without one, to MEDIA_ROOT on this server's disk. Credentials
# come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the instance's role),
# never from this file. No URL to the bucket is ever given out: every image read is streamed by the API.
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
if AWS_STORAGE_BUCKET_NAME:
    from botocore.config import Config as _BotoConfig

    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "default_acl": None,  # the bucket's own (private) policy; never public-read
            "querystring_auth": True,  # should a URL ever be made, it is signed and short-lived
            "querystring_expire": 60,
            "file_overwrite": True,  # names are random (photo_upload_to): no existence check per upload
            # A dead store costs a request seconds, not minutes; readiness says which part is down.
            "client_config": _BotoConfig(
                connect_timeout=env_int("AWS_S3_CONNECT_TIMEOUT_SECONDS", 3),
                read_timeout=env_int("AWS_S3_READ_TIMEOUT_SECONDS", 20),
                retries={"max_attempts": env_int("AWS_S3_MAX_ATTEMPTS", 2), "mode": "standard"},
                s3={"addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE", "auto")},
            ),
        },
    }

LOGIN_URL = "login"

# E-mail (access request decisions): printed to the console in development; in production set
# EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and Django's EMAIL_HOST etc. Tests
# use the locmem backend (pytest-django).
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "no-reply@localhost")
LOGIN_REDIRECT_URL = "account-apps"
# The issuer name in authenticator apps (otpauth:// URIs of accounts.factors).
OTP_TOTP_ISSUER = "Granular Photos"
# A second factor older than this must be given again before a factor is removed (sudo mode).
REAUTHENTICATION_SECONDS = 600
# Staff and superusers use the admin only after a second factor (and set one up first if needed).
ADMIN_REQUIRES_SECOND_FACTOR = env_bool("ADMIN_REQUIRES_SECOND_FACTOR", False)
LOGOUT_REDIRECT_URL = "login"

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Every page, the admin and Swagger UI included, loads only from our own origin. No inline
# script anywhere (Swagger UI's is served as a file); inline style attributes are used by the
# admin. No form-action: the consent form's answer is a redirect to the client's redirect_uri,
# which browsers would block.
CONTENT_SECURITY_POLICY = os.environ.get(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
)

# HTTPS. With DEBUG off every setting defaults to its production value; HTTPS_ONLY=0 turns the
# HTTPS-only ones off for plain HTTP on loopback (the test suite, a local gunicorn).
HTTPS_ONLY = env_bool("HTTPS_ONLY", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS_ONLY)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS_ONLY)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS_ONLY)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS_ONLY)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a proxy that terminates TLS: SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto=https (only if
# the proxy always sets or strips that header, or clients could claim HTTPS).
SECURE_PROXY_SSL_HEADER = env_proxy_header("SECURE_PROXY_SSL_HEADER")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Preloading is a one-way commitment for a whole domain (anyone may submit a domain whose header
# says `preload`), so it is the operator's choice, not a default; check --deploy is told so.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Failed attempts allowed per fixed window ("count/seconds"): sign-in per account and per
# client IP, the token endpoint per client id and per IP. Successful traffic is never counted.
RATE_LIMITS = {
    "login-account": env_rate("RATE_LIMIT_LOGIN_ACCOUNT", "5/900"),
    "login-ip": env_rate("RATE_LIMIT_LOGIN_IP", "30/900"),
    "token-client": env_rate("RATE_LIMIT_TOKEN_CLIENT", "30/60"),
    "token-ip": env_rate("RATE_LIMIT_TOKEN_IP", "60/60"),
    # Wrong user codes typed at /o/device/ (RFC 8628 5.1: guessing), per account and per address.
    "device-user": env_rate("RATE_LIMIT_DEVICE_USER", "5/900"),
    "device-ip": env_rate("RATE_LIMIT_DEVICE_IP", "30/900"),
    # Wrong second-factor codes (sign-in, step-up), per account; each TOTP device also backs off
    # exponentially on its own (django-otp's throttling).
    "second-factor-user": env_rate("RATE_LIMIT_SECOND_FACTOR_USER", "5/900"),
    # Endpoints that create rows on a user's (or a public client's) word count EVERY attempt
    # (accounts.ratelimit.record_attempt); the caps on what may exist at once are CREATION_CAPS.
    "access-request-user": env_rate("RATE_LIMIT_ACCESS_REQUEST_USER", "10/3600"),
    "personal-token-user": env_rate("RATE_LIMIT_PERSONAL_TOKEN_USER", "10/3600"),
    "consent-user": env_rate("RATE_LIMIT_CONSENT_USER", "60/600"),  # consent and device approval answers
    "device-start-client": env_rate("RATE_LIMIT_DEVICE_START_CLIENT", "60/600"),
    "device-start-ip": env_rate("RATE_LIMIT_DEVICE_START_IP", "30/600"),
    # Client-credentials tokens issued per client (only issued ones count: see scopes.oauth.views).
    "token-issue-client": env_rate("RATE_LIMIT_TOKEN_ISSUE_CLIENT", "60/3600"),
    # Client ID metadata documents fetched to register unknown clients (scopes.oauth.client_documents).
    "cimd-registration-ip": env_rate("RATE_LIMIT_CIMD_REGISTRATION_IP", "10/3600"),
    "cimd-registration-host": env_rate("RATE_LIMIT_CIMD_REGISTRATION_HOST", "20/3600"),
    # RFC 7591 registrations (scopes.oauth.registration).
    "dcr-registration-ip": env_rate("RATE_LIMIT_DCR_REGISTRATION_IP", "10/3600"),
    # Invitations sent by a tenant administrator (every attempt), and invitation links tried per
    # address (failures: a link that is not valid).
    "invitation-user": env_rate("RATE_LIMIT_INVITATION_USER", "30/3600"),
    "invitation-ip": env_rate("RATE_LIMIT_INVITATION_IP", "20/900"),
    # Password reset requests (each sends mail): per address typed and per client address.
    "password-reset-email": env_rate("RATE_LIMIT_PASSWORD_RESET_EMAIL", "3/3600"),
    "password-reset-ip": env_rate("RATE_LIMIT_PASSWORD_RESET_IP", "20/3600"),
    "email-verify-user": env_rate("RATE_LIMIT_EMAIL_VERIFY_USER", "3/3600"),  # verification mails sent
}
# How many rows of each kind may exist at once on one person's (or client's) word; enforced by the
# services that create them (docs/security.md, "Row creation limits").
# How long an invitation link may be used (days).
INVITATION_DAYS = env_int("INVITATION_DAYS", 7)
CREATION_CAPS = {
    "invitations-pending": env_int("CAP_INVITATIONS_PENDING", 100),  # per tenant
    "access-requests-pending": env_int("CAP_ACCESS_REQUESTS_PENDING", 5),  # per member and tenant
    "personal-tokens": env_int("CAP_PERSONAL_TOKENS", 20),  # unexpired, per person and tenant
    "device-grants-pending": env_int("CAP_DEVICE_GRANTS_PENDING", 100),  # unexpired, per client
    "service-accounts": env_int("CAP_SERVICE_ACCOUNTS", 50),  # per tenant
}
# Outbound requests to URLs people supply (audit webhooks; accounts/outbound.py): https only outside
# DEBUG, and never to loopback, private, link-local... addresses unless named here (CIDRs or hosts).
OUTBOUND_ALLOW_HTTP = env_bool("OUTBOUND_ALLOW_HTTP", DEBUG)
OUTBOUND_ALLOWED_NETWORKS = env_networks("OUTBOUND_ALLOWED_NETWORKS")

# How many proxies in front of the app append to X-Forwarded-For (0: use the socket's address).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# --- OAuth 2.0 (django-oauth-toolkit), models swapped into `scopes` from its first migration.
OAUTH2_PROVIDER_APPLICATION_MODEL = "scopes.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "scopes.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "scopes.RefreshToken"
OAUTH2_PROVIDER_GRANT_MODEL = "scopes.Grant"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "scopes.IDToken"
OAUTH2_PROVIDER_DEVICE_GRANT_MODEL = "scopes.DeviceGrant"


def _device_grant_to_request(request: Any) -> None:
    """DOT's pre-token hook for the device grant (scopes.device.token), imported when first called."""
    from scopes.device.token import device_grant_to_request

    device_grant_to_request(request)


# The scopes a self-registered client may ask for: those its document declares, within these
# (without `scope`, all of these). Never administration, the audit log or deletion; never client
# credentials or personal tokens (a self-registered client is a public authorization-code client).
SELF_REGISTERED_CLIENT_SCOPES = env_list(
    "SELF_REGISTERED_CLIENT_SCOPES",
    [
        "openid",
        "profile",
        "email",
        "offline_access",
        "profile.read",
        "photos.read",
        "photos.upload",
        "photos.update",
        "albums.read",
        "albums.write",
    ],
)

# RFC 7591 dynamic registration at /o/register/ (scopes.oauth.registration): such apps are refused
# in every tenant that has not allowed them; unused ones are deleted by cleartokens after this many days.
DYNAMIC_REGISTRATION_ENABLED = env_bool("DYNAMIC_REGISTRATION_ENABLED", True)
DYNAMIC_REGISTRATION_UNUSED_DAYS = env_int("DYNAMIC_REGISTRATION_UNUSED_DAYS", 7)

OAUTH2_PROVIDER = {
    # DOT's default is ["__all__"]: a client that omits `scope` would get everything.
    "DEFAULT_SCOPES": [],
    "SCOPES_BACKEND_CLASS": "scopes.oauth.backends.DatabaseScopes",
    "OAUTH2_VALIDATOR_CLASS": "scopes.oauth.validators.TenantOAuth2Validator",
    # A form body's Content-Type with a charset parameter is accepted everywhere (docs/security.md, "Input bounds").
    "OAUTH2_BACKEND_CLASS": "scopes.oauth.backends.OAuthLibCore",
    # DOT registers its (swapped) models in the admin with these classes: once, no re-registering.
    "APPLICATION_ADMIN_CLASS": "scopes.admin.applications.ApplicationAdmin",
    "ACCESS_TOKEN_ADMIN_CLASS": "scopes.admin.tokens.AccessTokenAdmin",
    "REFRESH_TOKEN_ADMIN_CLASS": "scopes.admin.tokens.RefreshTokenAdmin",
    "GRANT_ADMIN_CLASS": "scopes.admin.tokens.GrantAdmin",
    "ID_TOKEN_ADMIN_CLASS": "scopes.admin.tokens.IDTokenAdmin",
    "REQUEST_APPROVAL_PROMPT": "force",  # our consent view decides when to skip, from remembered consent
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # token values stored as SHA-256 only
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,  # never a token in a query string
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,  # RFC 9207 `iss` against mix-up attacks
    # Client ID metadata documents (docs/security.md, "Self-registered clients"): fetched through
    # accounts.outbound, held to our rules and governed like any app (scopes.oauth.client_documents).
    "CIMD_ENABLED": env_bool("CIMD_ENABLED", True),
    "CIMD_METADATA_FETCHER": "scopes.oauth.client_documents.GuardedMetadataFetcher",
    "CIMD_REGISTRATION_PERMISSION_CLASSES": ("scopes.oauth.client_documents.RegistrationLimit",),
    # https only in production; plain http (loopback callbacks, RFC 8252) only when HTTPS_ONLY=0
    # or when the operator lists it (check --deploy then warns, as it should).
    "ALLOWED_REDIRECT_URI_SCHEMES": env_list(
        "OAUTH_REDIRECT_URI_SCHEMES", ["https"] if HTTPS_ONLY else ["http", "https"]
    ),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("ACCESS_TOKEN_EXPIRE_SECONDS", 3600),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int("REFRESH_TOKEN_EXPIRE_SECONDS", 30 * 24 * 3600),
    # OpenID Connect (scopes/oidc): ID tokens signed RS256 by the keys below; claims and userinfo
    # from the grant's standing. RP-initiated logout ends the session here and leaves the tokens
    # (users take access back at /account/apps/, audited).
    "OIDC_ENABLED": True,
    "ID_TOKEN_EXPIRE_SECONDS": env_int("OIDC_ID_TOKEN_EXPIRE_SECONDS", 3600),
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,
    # Device authorization grant (RFC 8628, scopes/device): the token's user, tenant and scopes
    # come from the approved grant's standing, not from DOT's lookup.
    "DEVICE_FLOW_INTERVAL": env_int("DEVICE_FLOW_INTERVAL", 5),
    "OAUTH_PRE_TOKEN_VALIDATION": [_device_grant_to_request],
}

# ID-token signing keys (scopes.oidc.keys), never in the repository: by default in the database,
# sealed with AUDIT_SECRET_KEY and rotated by `manage.py rotate_oidc_key` (old public keys stay in
# the JWKS until their ID tokens have expired), so app servers hold none; or one fixed key,
# OIDC_RSA_PRIVATE_KEY (the PEM; "\n" may stand for newlines) or OIDC_RSA_PRIVATE_KEY_FILE (its
# path); or OIDC_KEY_DIR, a directory the same command manages (each server then needs it).
OIDC_KEY_DIR = os.environ.get("OIDC_KEY_DIR", "")
OIDC_RSA_PRIVATE_KEY = os.environ.get("OIDC_RSA_PRIVATE_KEY", "").replace("\\n", "\n")
OIDC_RSA_PRIVATE_KEY_FILE = os.environ.get("OIDC_RSA_PRIVATE_KEY_FILE", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",  # deep nesting is a 400, not a 500
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
    # The API's answers (401/403/404/400 bodies and WWW-Authenticate) follow the decision's table (docs/architecture.md, "One API request").
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Granular Photos API",
    "DESCRIPTION": "A multi-tenant photo API whose every refusal says why.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI signs in through the demo public client with PKCE (seeded by `manage.py seed_demo`);
    # its redirect page /api/docs/oauth2-redirect.html is served from the sidecar.
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "deepLinking": True},
    "SWAGGER_UI_OAUTH2_CONFIG": {
        "clientId": "demo-photos-client",
        "usePkceWithAuthorizationCodeGrant": True,
        "scopes": "profile.read photos.read albums.read",
    },
    "SCHEMA_PATH_PREFIX": r"/api/t/[^/]+/",
    # Request and response shapes apart: an upload's `image` is a binary file, not a URI.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.document_refusals",  # 400/401/403/404/413/415 on every tenant operation
    ],
}

# Uploads: bounded in bytes and in decoded pixels (decompression bombs).
PHOTO_MAX_BYTES = env_int("PHOTO_MAX_BYTES", 10 * 1024 * 1024)
PHOTO_MAX_PIXELS = env_int("PHOTO_MAX_PIXELS", 40_000_000)

# Operations (project/health.py, project/observability.py, docs/deployment.md).
# Parts /readyz reports but that do not make it 503 (e.g. "cache": the product works without Redis).
READYZ_OPTIONAL = env_list("READYZ_OPTIONAL", [])
_unknown_parts = set(READYZ_OPTIONAL) - {"database", "cache", "storage"}
if _unknown_parts:
    raise ImproperlyConfigured(f"READYZ_OPTIONAL: unknown parts {sorted(_unknown_parts)}.")
# When set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# Logs: one JSON object per line on stderr (LOG_FORMAT=text for people), each with the request id.
# ACCESS_LOG=1 (the default) writes one line per request (method, route, status, duration).
_ACCESS_LOG = env_bool("ACCESS_LOG", True)
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
if LOG_FORMAT not in FORMATS:
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOGGING_CONFIG = "project.logs.configure"  # dictConfig, and Python's warnings as log records
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "project.observability.RequestIdFilter"}},
    # The one line format, shared with gunicorn's loggers (project/logs.py, gunicorn.conf.py).
    "formatters": FORMATTERS,
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        # Django's default configuration gives `django` a plain-text console handler (shown with
        # DEBUG on) of its own; its records go to the root's handler like every other's.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "project.request": {
            "handlers": ["console"],
            "level": "INFO" if _ACCESS_LOG else "WARNING",
            "propagate": False,
        },
        # With the access log on, each request is one line, ours (with its request id and route):
        # runserver's own line per request and Django's "Forbidden: /path" for every 4xx would
        # say it twice or three times. A 5xx still logs its traceback (django.request, ERROR).
        **(
            {
                "django.server": {"handlers": [], "level": "CRITICAL", "propagate": True},
                "django.request": {"handlers": [], "level": "ERROR", "propagate": True},
            }
            if _ACCESS_LOG
            else {}
        ),
    },
}
