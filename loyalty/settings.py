"""Settings for Tierline, read from the environment.

Production is the default: DEBUG off, a secret key required, SMTP email, secure cookies.
`DJANGO_DEBUG=1` is the development mode (`make demo` runs with it off). Without `DATABASE_URL` the
database is SQLite; without `REDIS_URL` Celery tasks run in-process and the cache is local memory.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from error


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105 - development mode only
# Rotating the secret key: the old one here keeps signed values (sessions, links) and encrypted fields readable.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", [])
# Keys of secrets at rest (loyalty/encryption.py: gift-card codes, client secrets), the first one writing; empty:
# derived from the secret key.
ENCRYPTION_KEYS = env_list("TIERLINE_ENCRYPTION_KEYS", [])

# Tenants live at <slug>.<BASE_DOMAIN>; the bare BASE_DOMAIN serves the platform admin.
BASE_DOMAIN = env_str("TIERLINE_BASE_DOMAIN", "localhost").lower()
# The tenant middleware is the real allow-list (an unknown host is a 404), so custom domains
# only need adding here when they are not under BASE_DOMAIN.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [BASE_DOMAIN, f".{BASE_DOMAIN}", "127.0.0.1"])
# How links in emails and tasks reach a tenant: <scheme>://<slug>.<BASE_DOMAIN>[:port].
PUBLIC_PORT = env_str("TIERLINE_PUBLIC_PORT")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "loyalty.tenancy.admin_apps.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "csp",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "django_filters",
    "django_countries",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "loyalty.tenancy",
    "loyalty.ledger",
    "earning",
    "partners",
    "sso",
    "tiers",
    "rewards",
    "funds",
    "deals",
    "badges",
    "engagement",
    "finance",
    "analytics",
    "enablement",
    "portal",
    "webhooks",
    "notifications",
    "imports",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "loyalty.limits.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "loyalty.tenancy.middleware.TenantMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "loyalty.tenancy.middleware.MembershipMiddleware",
    "loyalty.tenancy.middleware.StaffMfaMiddleware",
    "sso.middleware.IdentityProviderFormActionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

# Tenant hosts and the platform host serve different URL sets; the middleware picks one.
ROOT_URLCONF = "loyalty.urls_tenant"
PLATFORM_URLCONF = "loyalty.urls_platform"
WSGI_APPLICATION = "loyalty.wsgi.application"

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
                "loyalty.tenancy.context_processors.tenancy",
                "notifications.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Row-level security (PostgreSQL, docs/tenancy.md): the application connects as DATABASE_URL's role, which must
# neither own the tables nor bypass RLS; `migrate` connects to the same database as DATABASE_OWNER_URL's role,
# which owns them, and grants the application role its rights.
DATABASE_OWNER_URL = env_str("DATABASE_OWNER_URL")
DATABASE_APP_ROLE = DATABASES["default"].get("USER", "")
# Scale-out (docs/scaling.md). DATABASE_TRANSACTION_POOLING: DATABASE_URL goes through PgBouncer in transaction
# pooling mode, where no server-side cursor can live (the row-level security setting is transaction-local in
# every mode: loyalty/tenancy/rls.py). DATABASE_DIRECT_URL: the same server without the pooler, for what needs a
# session of its own (the beat's advisory lock); its role, host and port are used, the database name is kept.
DATABASE_TRANSACTION_POOLING = env_bool("DATABASE_TRANSACTION_POOLING", default=False)
DATABASE_DIRECT_URL = env_str("DATABASE_DIRECT_URL")
# A streaming replica (DATABASE_REPLICA_URL, as the application role): the analytics, the program dashboard and
# the worklist read from it (loyalty/replica.py); a browser that wrote reads from the primary for the pin window.
# Its tests use the primary's test database, which reaches the replica by streaming (TEST MIRROR).
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
DATABASE_REPLICA_PIN_SECONDS = env_int("DATABASE_REPLICA_PIN_SECONDS", 10)
# Partners per nightly evaluation chunk (tiers/services.py); smaller only where a test needs chunks quick under load.
TIERLINE_EVALUATION_CHUNK_SIZE = env_int("TIERLINE_EVALUATION_CHUNK_SIZE", 5000)
# An evaluation run in place (the `evaluate` command, the demo, bench/evaluation.py) runs its chunks in this many
# threads, each with its own connection and transactions: one chunk's SQL overlaps another's Python (docs/forecasts.md).
EVALUATION_STREAMS = env_int("TIERLINE_EVALUATION_STREAMS", 2)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"], conn_health_checks=True
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["loyalty.replica.ReplicaRouter"]
    MIDDLEWARE.append("loyalty.replica.PrimaryPinMiddleware")  # read-your-writes
if DATABASE_TRANSACTION_POOLING:
    for _database in DATABASES.values():
        _database["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes are a PostgreSQL optimisation; SQLite (the demo) builds them without the extra columns.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_USER_MODEL = "tenancy.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

# Identities: global users logging in by email; membership in a tenant comes by invitation only.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_ADAPTER = "sso.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_SESSION_REMEMBER = None
# Adding, removing or making primary an email address asks for the password again (a stolen session cannot move
# the account to an address of its own); allauth's reauthentication, within REAUTHENTICATION_TIMEOUT (5 min).
ACCOUNT_REAUTHENTICATION_REQUIRED = True
INVITATION_VALID_DAYS = env_int("TIERLINE_INVITATION_VALID_DAYS", 14)

# Single sign-on (docs/security.md#single-sign-on): each program's OpenID Connect and SAML identity providers are
# rows of its own (sso.IdentityProvider), served to allauth by the adapter; allauth's global SocialApp table is
# unused. The provider vouches for the address (its domains are the program's to allow), so no email round trip;
# the first sign-in makes the account and its membership (just in time); tokens are not kept.
SOCIALACCOUNT_ADAPTER = "sso.adapters.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]
# Spanish numbers grouped with dots (1.250) as partners in Latin America write them (loyalty/formats/es/).
FORMAT_MODULE_PATH = ["loyalty.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Hashed, compressed static files in production (after collectstatic); plain files in development and tests.
STATIC_MANIFEST = env_bool("TIERLINE_STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
# Uploaded files (evidence, images) live outside the web root and are served by views that check access.
MEDIA_ROOT = Path(env_str("TIERLINE_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

# The older single Fernet key of gift-card codes at rest (loyalty/encryption.py reads and writes with it after
# TIERLINE_ENCRYPTION_KEYS); derived from the secret key when neither is set.
CODES_ENCRYPTION_KEY = env_str("TIERLINE_CODES_ENCRYPTION_KEY")
EVIDENCE_MAX_BYTES = env_int("TIERLINE_EVIDENCE_MAX_BYTES", 10 * 2**20)
IMPORT_MAX_BYTES = env_int("TIERLINE_IMPORT_MAX_BYTES", 32 * 2**20)  # CSV imports of activities
# A large CSV import's chunks run in this many threads of its worker, each with its own connection (docs/ingestion.md).
IMPORT_STREAMS = env_int("TIERLINE_IMPORT_STREAMS", 2)
IMAGE_MAX_BYTES = env_int("TIERLINE_IMAGE_MAX_BYTES", 2 * 2**20)  # tenant logos and reward images
IMAGE_MAX_PIXELS = 25_000_000  # decoded size: a small file may still unpack into a huge bitmap
# Request bodies (docs/operations.md, "Abuse controls"): loyalty.limits refuses with 413, before reading, a body
# larger than REQUEST_MAX_BYTES (the largest upload and its form) or, under /api/, API_MAX_BODY_BYTES.
REQUEST_MAX_BYTES = max(EVIDENCE_MAX_BYTES, IMPORT_MAX_BYTES, IMAGE_MAX_BYTES) + 2**20
API_MAX_BODY_BYTES = env_int("TIERLINE_API_MAX_BODY_BYTES", 4 * 2**20)  # 1,000 activities with metadata fit
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 2**20  # a form's fields without its files
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # Django's default: larger files go to a temporary file, not memory
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2_000  # admin actions on a page of selected rows stay well below
DATA_UPLOAD_MAX_NUMBER_FILES = 10
# Activities may be dated slightly ahead (time zones, clock skew), never further.
ACTIVITY_FUTURE_TOLERANCE_HOURS = 24
# A running tier evaluation with no chunk committed for this long lost its messages with a worker: its missing
# chunks are re-sent (tiers.resume_stalled_evaluations, every 5 minutes). Above a chunk's hard time limit (20 min),
# so a chunk still being scored is never the reason.
EVALUATION_STALL_MINUTES = env_int("TIERLINE_EVALUATION_STALL_MINUTES", 25)

# Outgoing webhooks (docs/webhooks.md). In production they need https and a public address; development
# mode, and the tests, whose receivers listen on loopback, allow http and private addresses.
WEBHOOKS_ALLOW_HTTP = env_bool("TIERLINE_WEBHOOKS_ALLOW_HTTP", default=DEBUG)
WEBHOOKS_ALLOW_PRIVATE = env_bool("TIERLINE_WEBHOOKS_ALLOW_PRIVATE", default=DEBUG)
WEBHOOKS_TIMEOUT_SECONDS = env_int("TIERLINE_WEBHOOKS_TIMEOUT_SECONDS", 5)

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Fails open while Redis is down (loyalty/cache.py): throttles and rate limits stop counting, pages keep
    # serving. Short socket timeouts keep a dead Redis from holding requests.
    CACHES = {
        "default": {
            "BACKEND": "loyalty.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: the broker is Redis when configured; otherwise tasks run eagerly in the calling process.
# Fault tolerance (docs/architecture.md, "Failure modes"): a message is acknowledged after its task ends, and a
# worker killed mid-task leaves it to be delivered again, so every task is idempotent. Redis hands an
# unacknowledged message to another worker after the visibility timeout, so every task's hard time limit is
# below it (tests/test_chaos_limits.py checks each registered task).
# The in-memory broker names a host so that kombu does not warn "No hostname was supplied" (issue 17, item 25).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not (REDIS_URL or os.environ.get("CELERY_BROKER_URL"))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A worker sweeps the unacknowledged messages every 10 s (kombu's interval), each sweep a real one (throttle 1), so a
# killed worker's message comes back within the visibility timeout plus 10 s.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("TIERLINE_CELERY_VISIBILITY_TIMEOUT", 3600),
    "unacked_restore_throttle": 1,
}
# Limits of a task that sets none; the long ones (evaluation chunks, imports) set their own, still below it.
CELERY_TASK_SOFT_TIME_LIMIT = 5 * 60
CELERY_TASK_TIME_LIMIT = 6 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that publishes while the broker is down gives up after about a second and runs the task
# in-process instead (loyalty.tenancy.tasks.enqueue_on_commit).
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# One beat ticks at a time, whatever the number started (loyalty/beat.py), and it writes each run to the
# database as soon as it sends it, so the standby that takes over never sends it again.
CELERY_BEAT_SCHEDULER = "loyalty.beat:LockedDatabaseScheduler"

EMAIL_BACKEND = env_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
# The file backend's folder: `make demo` writes its emails there instead of printing them (issue 17, item 25).
EMAIL_FILE_PATH = env_str("DJANGO_EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("DJANGO_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("DJANGO_EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "Tierline <noreply@tierline.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security (docs/security.md). TIERLINE_HTTPS (on unless DEBUG) governs redirects, secure cookies and HSTS;
# development mode and the test suite run on plain http://*.localhost.
HTTPS = env_bool("TIERLINE_HTTPS", default=not DEBUG)
PUBLIC_SCHEME = "https" if HTTPS else "http"
SECURE_SSL_REDIRECT = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # no script reads the token from the cookie; forms carry it
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env_bool("TIERLINE_HSTS_PRELOAD", default=HTTPS)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# /healthz is probed over plain http by load balancers and compose.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content security policy (django-csp), enforced: scripts and styles only from this origin or carrying the
# response's nonce (`{{ request.csp_nonce }}`); no inline event handlers, no style attributes, no eval.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],  # data: for allauth's TOTP QR code and Swagger UI's icons
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Login limits (allauth, counted in the default cache: Redis when REDIS_URL is set; defaults kept for the rest).
# A wrong password counts against the client address and against the account; both admins sign in here too.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    # The public application page (portal/apply.py): per client address, and per applicant email.
    "partner_application": "10/h/ip,3/d/key",
}
# Behind N reverse proxies the client address is the Nth from the right in X-Forwarded-For; 0 trusts REMOTE_ADDR.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TIERLINE_TRUSTED_PROXY_COUNT", 0)

# Two-factor authentication (allauth.mfa): TOTP with recovery codes. With TIERLINE_MFA_REQUIRED, owners and
# program managers must activate TOTP before any page of their tenant's admin, program or portfolio.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Tierline"
# Accept the code of the 30-second step before or after too (RFC 6238's allowance for clock drift and for a code
# typed just as it changes); a used code is still refused.
MFA_TOTP_TOLERANCE = 1
MFA_REQUIRED = env_bool("TIERLINE_MFA_REQUIRED", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    # In-process tasks (the demo) would log every task twice over; workers keep Celery's own logging.
    "loggers": {"celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"}},
}

# The REST API at /api/v1/ on tenant hosts (docs/api.md): API keys or portal sessions, JSON only, cursor pages,
# one error shape. API_THROTTLE_RATE counts per key in the default cache (Redis when REDIS_URL is set).
API_THROTTLE_RATE = env_str("TIERLINE_API_RATE", "1200/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.ScopePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.ApiCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tierline API",
    "DESCRIPTION": "The partner loyalty program of this host's vendor. Guide: docs/api.md.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ActivityKindEnum": "partners.models.ActivityKind",
        "ActivityStatusEnum": "partners.models.Activity.Status",
        "ActivitySourceEnum": "partners.models.Activity.Source",
        "PartnerStatusEnum": "partners.models.Partner.Status",
        "EntryKindEnum": "loyalty.ledger.models.EntryKind",
        "RewardKindEnum": "rewards.models.Reward.Kind",
        "RewardStatusEnum": "rewards.models.Reward.Status",
        "RedemptionStatusEnum": "rewards.models.Redemption.Status",
        "BenefitKindEnum": "tiers.models.BenefitKind",
        "TierModelStatusEnum": "tiers.models.TierModel.Status",
    },
}

# Domain events and the integrations that hear them, in order, inside the emitting transaction (loyalty/events.py).
TIERLINE_EVENT_HANDLERS = {
    "tier.changed": [
        "webhooks.services.tier_changes_emit",
        "notifications.events.tier_changes_notify",
        "badges.services.tier_changes_award",
    ],
    "redemption.status_changed": [
        "webhooks.services.redemption_status_emit",
        "notifications.events.redemption_status_notify",
    ],
    "deal.status_changed": [
        "webhooks.services.deal_status_emit",
        "notifications.events.deal_status_notify",
        "badges.services.deal_status_award",
    ],
    "redemption.awaits_review": ["notifications.events.redemption_to_review_notify"],
    "fund.decided": ["webhooks.services.fund_decision_emit", "notifications.events.fund_decision_notify"],
    "announcement.published": ["notifications.events.announcement_notify"],
    # A course completed (enablement) records its training activity through ingestion, once.
    "course.completed": ["imports.training.course_completion_ingest"],
    "survey.sent": ["notifications.events.survey_notify"],
}
# Apps above tiers that add to a scorecard metric (tiers/metrics.py), without tiers importing them.
TIERLINE_METRIC_SOURCES = {
    "deal_registrations": ["deals.metrics.deal_registrations_by_window"],
}
