"""Settings for the back-office. Every value comes from the environment.

The embedded default is SQLite plus the django-q2 ORM broker; setting
``DATABASE_URL`` and ``REDIS_URL`` switches to PostgreSQL and Redis. Every
business time window from DOMAIN.md is an environment setting (see README).
"""

import datetime
import os
from pathlib import Path

import environ
from django.core.checks.security.base import SECRET_KEY_MIN_LENGTH, SECRET_KEY_MIN_UNIQUE_CHARACTERS
from django.core.exceptions import ImproperlyConfigured

from core.durations import parse_duration, parse_duration_list

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Development reads a git-ignored .env (``make run`` writes one with DEBUG=true), so `python manage.py ...`
# works as the README writes it. Variables already in the environment win; ENV_FILE names another file, or
# none when empty.
_env_file = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).exists():
    environ.Env.read_env(_env_file)

DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
# The same bar as ``check --deploy`` (security.W009): long, and not one character repeated.
if not DEBUG and (
    SECRET_KEY == _DEV_SECRET_KEY
    or len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
    or SECRET_KEY.startswith("django-insecure-")
):
    raise ImproperlyConfigured(
        f"SECRET_KEY must be set to a random value of at least {SECRET_KEY_MIN_LENGTH} characters, "
        f"with at least {SECRET_KEY_MIN_UNIQUE_CHARACTERS} different ones, when DEBUG is off. "
        "For development, run `make run` once (it writes a .env with DEBUG=true) or `export DEBUG=true`; "
        "in production, set SECRET_KEY in the environment (see the README's configuration table)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "console.admin_config.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "djstripe",
    "import_export",
    "axes",
    # Ours, bottom layer first (see the README's architecture section).
    "core",
    "accounts",
    "webhooks",
    "orders",
    "fulfillment",
    "payments",
    "returns",
    "tiktok",
    "api",
    "portal",
    "console",
    "backoffice",
]

MIDDLEWARE = [
    # First, so it sees every answer: errors under /api/ are JSON whatever raised them.
    "core.api.middleware.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"
ASGI_APPLICATION = "backoffice.asgi.application"

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

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# A persistent connection may have died with a database restart or a failover: check it before each
# request reuses it, or the first request of every worker after a restart answers 500.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = DATABASES["default"]["CONN_MAX_AGE"] != 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer. A transaction that reads and then writes must
    # take the write lock when it begins (BEGIN IMMEDIATE): one that upgrades later fails at once
    # with "database is locked" whenever another process wrote meanwhile, whatever the busy timeout.
    # With IMMEDIATE it waits for the lock instead, up to the timeout (seconds).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("SQLITE_TIMEOUT", default=20),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

Q_CLUSTER = {
    # Constant on purpose: django-q2 signs every task with it, so a cluster with another name (the
    # delivery workers) would drop the tasks the web server queues. Which queue a qcluster serves is
    # chosen by django-q2's own Q_CLUSTER_NAME variable (see ALT_CLUSTERS below).
    "name": "backoffice",
    "workers": env.int("Q_WORKERS", default=2),
    # django-q2 requires timeout < retry, or a slow task is run twice.
    "timeout": env.int("Q_TIMEOUT", default=120),
    "retry": env.int("Q_RETRY", default=300),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "catch_up": False,  # timers catch up from data, not by replaying missed schedule ticks
    "save_limit": 500,
    "sync": env.bool("Q_SYNC", default=False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# django-axes checks each login (admin and portal alike) against its record of failures first.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The one display time zone: every timestamp in the admin, the portal and emails is shown in it, with its name.
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
FORMAT_MODULE_PATH = ["backoffice.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:orders"
LOGOUT_REDIRECT_URL = "portal:login"

# Development prints one line per email (to, subject); set EMAIL_URL or the SMTP variables to send them.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="core.mail.SummaryConsoleBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="backoffice@localhost")
# One URL instead of the variables above, e.g. smtp+tls://user:password@smtp.example.com:587; it wins over them.
_email_url = env.str("EMAIL_URL", default="")
if _email_url:
    for _key, _value in env.email_url_config(_email_url).items():
        if _value not in (None, ""):
            globals()[_key] = _value
# Seconds an SMTP connection may block a worker.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Checkout emails (payments.reminders): a seller paying by hand is reminded of newly waiting orders this long
# after the first one starts waiting (orders that start waiting meanwhile join the same email); the daily
# list of every waiting order goes out at this local time.
CHECKOUT_REMINDER_DELAY = parse_duration(env.str("CHECKOUT_REMINDER_DELAY", default="5m"))
try:
    CHECKOUT_DIGEST_TIME = datetime.time.fromisoformat(env.str("CHECKOUT_DIGEST_TIME", default="09:00"))
except ValueError:
    raise ImproperlyConfigured("CHECKOUT_DIGEST_TIME is a local time of day written HH:MM, e.g. 09:00.") from None

# --- Security (``manage.py check --deploy`` is clean with DEBUG off) ---------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Login lockout (django-axes) and the client's address -------------------------
# How many proxies (load balancer, ingress) stand in front of the web server and append to
# X-Forwarded-For; 0 means clients connect directly and REMOTE_ADDR is theirs.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# After LOGIN_FAILURE_LIMIT failed logins (admin or portal) for one username from one address, further
# attempts are refused for LOGIN_LOCKOUT; a successful login clears the count.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = parse_duration(env.str("LOGIN_LOCKOUT", default="15m"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.client_ip.axes_client_ip"
AXES_LOCKOUT_CALLABLE = "core.lockout.login_locked_out"
AXES_VERBOSE = False

# --- API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.authentication.IsPartner"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.errors.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Per API key here; per client address in the authentication class, before the key is checked.
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.ApiKeyRateThrottle"],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT or None,
}
# Requests allowed per API key, and per client address (any key or none), as "<count>/<second|minute|hour>".
API_THROTTLE_RATE_KEY = env.str("API_THROTTLE_RATE_KEY", default="1200/minute")
API_THROTTLE_RATE_ADDRESS = env.str("API_THROTTLE_RATE_ADDRESS", default="2400/minute")
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=50)
SPECTACULAR_SETTINGS = {
    "TITLE": "Back-office partner API",
    "DESCRIPTION": "Push TikTok Shop orders, buyer-payment and cancellation events; pull status and stock.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The schema says what the server refuses: blank strings where a field may not be blank, empty query
    # parameters, fields that depend on each other (core.api.schema).
    "ENFORCE_NON_BLANK_FIELDS": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.api.schema.postprocess"],
    # Swagger UI's assets are served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that several components share a field name for ("status"), named once each.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "OrderMarketplaceStatusEnum": "api.cancellations.serializers.ORDER_MARKETPLACE_STATUSES",
        "CancellationStatusEnum": "returns.models.CancellationStatus",
        "CancellationMarketplaceStatusEnum": "api.cancellations.serializers.CANCELLATION_MARKETPLACE_STATUSES",
        "ReturnTypeEnum": "returns.models.ReturnType",
    },
}

# --- Exports (django-import-export) -------------------------------------------
# A character XLSX cannot hold (a control character in a name) becomes "�" instead of failing the export.
IMPORT_EXPORT_ESCAPE_ILLEGAL_CHARS_ON_EXPORT = True
# Whoever may view a list may export it (with its filters); imports go through our own pages and services.
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# --- Business time windows (DOMAIN.md); seed defaults in brackets ---------------
CURRENCY = env.str("CURRENCY", default="USD")
PAYMENT_WINDOW = parse_duration(env.str("PAYMENT_WINDOW", default="24h"))  # R2
HOLD_PERIOD = parse_duration(env.str("HOLD_PERIOD", default="60m"))  # R3
CANCELLATION_RESPONSE_WINDOW = parse_duration(env.str("CANCELLATION_RESPONSE_WINDOW", default="48h"))  # R5
# A request the marketplace approves at its own deadline (TikTok): the seller is reminded this long before.
CANCELLATION_WARN_LEAD = parse_duration(env.str("CANCELLATION_WARN_LEAD", default="6h"))
SHIP_BY_WINDOW = parse_duration(env.str("SHIP_BY_WINDOW", default="72h"))  # R8
TRACKING_WINDOW = parse_duration(env.str("TRACKING_WINDOW", default="72h"))  # R8
COLLECTION_WINDOW = parse_duration(env.str("COLLECTION_WINDOW", default="48h"))  # R8
# The collection deadline counts from labelling and depends on the handover method;
# each defaults to COLLECTION_WINDOW.
COLLECTION_WINDOW_PICKUP = parse_duration(
    env.str("COLLECTION_WINDOW_PICKUP", default="") or COLLECTION_WINDOW.total_seconds()
)
COLLECTION_WINDOW_DROPOFF = parse_duration(
    env.str("COLLECTION_WINDOW_DROPOFF", default="") or COLLECTION_WINDOW.total_seconds()
)
# How long after labelling the carrier and tracking number may still be corrected.
TRACKING_EDIT_WINDOW = parse_duration(env.str("TRACKING_EDIT_WINDOW", default="72h"))
DELIVERY_WINDOW = parse_duration(env.str("DELIVERY_WINDOW", default="11d"))  # R8
AT_RISK_LEAD = parse_duration(env.str("AT_RISK_LEAD", default="12h"))  # R8
LOST_AFTER = parse_duration(env.str("LOST_AFTER", default="14d"))  # R9
LOST_AFTER_FAILED_ATTEMPTS = env.int("LOST_AFTER_FAILED_ATTEMPTS", default=2)  # R9
RETURN_RESPONSE_WINDOW = parse_duration(env.str("RETURN_RESPONSE_WINDOW", default="48h"))  # R11
RETURN_WINDOW = parse_duration(env.str("RETURN_WINDOW", default="7d"))  # R15
AUTO_CHECKOUT_RETRY_BACKOFF = parse_duration_list(env.str("AUTO_CHECKOUT_RETRY_BACKOFF", default="1h,6h,24h"))

# --- Stripe, through dj-stripe (payments app) -----------------------------------
# Development and tests talk to localstripe on loopback (STRIPE_API_HOST); production
# talks to Stripe (STRIPE_API_HOST empty) and refuses to start without its keys.
_STRIPE_KEY_RE = r"^(sk|rk)_(test|live)_[A-Za-z0-9]{24,}$"
_STRIPE_PUBLIC_KEY_RE = r"^pk_(test|live)_[A-Za-z0-9]{24,}$"
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="sk_test_localstripe0000000000000000" if DEBUG else "")
STRIPE_PUBLISHABLE_KEY = env.str(
    "STRIPE_PUBLISHABLE_KEY", default="pk_test_localstripe0000000000000000" if DEBUG else ""
)
if not DEBUG:
    import re as _re

    if not _re.match(_STRIPE_KEY_RE, STRIPE_SECRET_KEY) or not _re.match(_STRIPE_PUBLIC_KEY_RE, STRIPE_PUBLISHABLE_KEY):
        raise ImproperlyConfigured(
            "STRIPE_SECRET_KEY (sk_... or rk_...) and STRIPE_PUBLISHABLE_KEY (pk_...) must be set when DEBUG is off."
        )
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
_stripe_api_host = env.str("STRIPE_API_HOST", default="http://127.0.0.1:8420" if DEBUG else "").rstrip("/")
if _stripe_api_host:
    # dj-stripe points stripe-python at this host; only defined when set (dj-stripe checks for it).
    STRIPE_API_HOST = _stripe_api_host
STRIPE_JS_URL = env.str(
    "STRIPE_JS_URL",
    default=f"{_stripe_api_host}/js.stripe.com/v3/" if _stripe_api_host else "https://js.stripe.com/v3/",
)
# The signing secret of the webhook endpoint registered at Stripe (whsec_...); stored by setup.
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_SUBSCRIBER_MODEL = "accounts.Seller"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
# Our fee per order on top of the wholesale cost, in minor units of CURRENCY.
FULFILMENT_FEE = env.int("FULFILMENT_FEE", default=0)
# A payment left in ``processing`` this long (a worker died mid-call) is settled by the timer.
PAYMENT_STALE_AFTER = parse_duration(env.str("PAYMENT_STALE_AFTER", default="10m"))

# How many due rows one timer batch locks at a time.
TIMER_BATCH_SIZE = env.int("TIMER_BATCH_SIZE", default=100)

# --- Pruning (backoffice.pruning): rows whose job is done are deleted after a retention each ----
# How often the prune_old_rows schedule runs, and how many rows each of its transactions deletes.
PRUNE_INTERVAL = parse_duration(env.str("PRUNE_INTERVAL", default="1h"))
PRUNE_BATCH_SIZE = env.int("PRUNE_BATCH_SIZE", default=1000)
# django-q2's task results (successes and failures) are deleted this long after the task stopped.
TASK_RESULT_RETENTION = parse_duration(env.str("TASK_RESULT_RETENTION", default="7d"))
if PRUNE_INTERVAL < datetime.timedelta(minutes=1):
    raise ImproperlyConfigured("PRUNE_INTERVAL must be at least 1m (the schedule counts whole minutes).")
if PRUNE_BATCH_SIZE < 1:
    raise ImproperlyConfigured("PRUNE_BATCH_SIZE must be at least 1.")
# Times partners report (placed_at, paid_at, carrier and return events) older than this are refused (400).
TIMESTAMP_MAX_AGE = parse_duration(env.str("TIMESTAMP_MAX_AGE", default="90d"))
# How long a stored Idempotency-Key response is replayed.
IDEMPOTENCY_KEY_TTL = parse_duration(env.str("IDEMPOTENCY_KEY_TTL", default="24h"))
# A claimed key with no answer after this is taken to be abandoned (its worker was killed) and a retry runs.
# Keep it above the web server's request timeout (gunicorn's default is 30 s).
IDEMPOTENCY_LEASE = parse_duration(env.str("IDEMPOTENCY_LEASE", default="2m"))

# --- Outbound partner webhooks (R13, webhooks.services) ---------------------------
# Wait after each failed attempt; when the list runs out the event is parked.
WEBHOOK_RETRY_BACKOFF = parse_duration_list(env.str("WEBHOOK_RETRY_BACKOFF", default="1m,5m,30m,2h,12h"))
# Connect and read timeout of one POST.
WEBHOOK_TIMEOUT = parse_duration(env.str("WEBHOOK_TIMEOUT", default="10s"))
# After a secret rotation the previous secret keeps signing (a second v1=) this long.
WEBHOOK_SECRET_ROTATION_GRACE = parse_duration(env.str("WEBHOOK_SECRET_ROTATION_GRACE", default="24h"))
# Deliveries run on their own django-q2 queue, served by its own workers (`Q_CLUSTER_NAME=webhooks manage.py
# qcluster`), so a slow partner never holds up timers, payments or emails.
WEBHOOK_QUEUE = env.str("WEBHOOK_QUEUE", default="webhooks")
WEBHOOK_WORKERS = env.int("WEBHOOK_WORKERS", default=2)
# A queued delivery whose task has not started after this is queued again by the timer pass (the task was lost).
WEBHOOK_REQUEUE_AFTER = parse_duration(env.str("WEBHOOK_REQUEUE_AFTER", default="10m"))
# Circuit breaker per partner: after this many failed attempts in a row, its endpoint is left alone for the
# cool-down, then tried once; events wait meanwhile without using up attempts.
WEBHOOK_BREAKER_FAILURES = env.int("WEBHOOK_BREAKER_FAILURES", default=5)
WEBHOOK_BREAKER_COOLDOWN = parse_duration(env.str("WEBHOOK_BREAKER_COOLDOWN", default="10m"))
# Delivered events are deleted after this long (parked ones are kept until redelivered).
WEBHOOK_RETENTION = parse_duration(env.str("WEBHOOK_RETENTION", default="30d"))
# Plain-http webhook URLs are refused unless allowed (development and tests).
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)
# Webhook URLs on loopback, private, link-local and other internal addresses are refused (they would let the
# admin probe our own network); development and tests turn this on to deliver to a receiver on this machine.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
if not WEBHOOK_RETRY_BACKOFF:
    raise ImproperlyConfigured("WEBHOOK_RETRY_BACKOFF needs at least one duration, e.g. 1m,5m,30m,2h,12h.")
if WEBHOOK_BREAKER_FAILURES < 1:
    raise ImproperlyConfigured("WEBHOOK_BREAKER_FAILURES must be at least 1.")
# The delivery workers: one task is one POST (connect and read timeouts, WEBHOOK_TIMEOUT each) plus two short
# transactions; django-q2 needs its retry above its timeout, or a slow task runs twice.
_delivery_timeout = int(2 * WEBHOOK_TIMEOUT.total_seconds()) + 30
Q_CLUSTER["ALT_CLUSTERS"] = {
    WEBHOOK_QUEUE: {
        "workers": WEBHOOK_WORKERS,
        "timeout": _delivery_timeout,
        "retry": _delivery_timeout + 60,
        # The main cluster runs the schedules; this one only serves its queue.
        "scheduler": False,
    },
}

# --- TikTok Shop (tiktok app) ----------------------------------------------------
# The app's credentials from TikTok's Partner Center, and its two hosts: TikTok's by
# default; ``make run`` and the tests point them at the local emulator.
TIKTOK_APP_KEY = env.str("TIKTOK_APP_KEY", default="")
TIKTOK_APP_SECRET = env.str("TIKTOK_APP_SECRET", default="")
TIKTOK_API_BASE = env.str("TIKTOK_API_BASE", default="https://open-api.tiktokglobalshop.com").rstrip("/")
TIKTOK_AUTH_BASE = env.str("TIKTOK_AUTH_BASE", default="https://auth.tiktok-shops.com").rstrip("/")
# Keys that encrypt the shops' tokens at rest: the first encrypts, all decrypt (rotation). Default: SECRET_KEY.
TIKTOK_TOKEN_KEYS = env.list("TIKTOK_TOKEN_KEY", default=[]) or [SECRET_KEY]
# Connect and read timeout of one call, and the waits before retrying a rate-limited or failed one.
TIKTOK_TIMEOUT = parse_duration(env.str("TIKTOK_TIMEOUT", default="10s"))
TIKTOK_RETRY_BACKOFF = parse_duration_list(env.str("TIKTOK_RETRY_BACKOFF", default="1s,2s,4s"))
# Tokens are refreshed this long before the access token expires.
TIKTOK_TOKEN_REFRESH_LEAD = parse_duration(env.str("TIKTOK_TOKEN_REFRESH_LEAD", default="24h"))
# Webhooks can be missed: each connected shop's orders updated since the last poll are searched this often,
# reaching back this much further than the last update seen (updates committed late on TikTok's side).
TIKTOK_POLL_INTERVAL = parse_duration(env.str("TIKTOK_POLL_INTERVAL", default="2m"))
TIKTOK_POLL_OVERLAP = parse_duration(env.str("TIKTOK_POLL_OVERLAP", default="2m"))
# A webhook whose processing failed is tried again after each of these waits, then left failed for staff.
TIKTOK_EVENT_RETRY_BACKOFF = parse_duration_list(env.str("TIKTOK_EVENT_RETRY_BACKOFF", default="1m,5m,30m,2h"))
# A received webhook whose task never ran (a lost task) is picked up by the timer after this.
TIKTOK_EVENT_STALE_AFTER = parse_duration(env.str("TIKTOK_EVENT_STALE_AFTER", default="2m"))
# The outbox of calls to TikTok (R17): waits after each retryable failure, then the call is parked.
TIKTOK_CALL_BACKOFF = parse_duration_list(env.str("TIKTOK_CALL_BACKOFF", default="1m,5m,30m,2h,12h"))
# A call whose worker never recorded an answer (it died) is checked and sent again after this.
TIKTOK_CALL_LEASE = parse_duration(env.str("TIKTOK_CALL_LEASE", default="2m"))
# Stock changes of one SKU within this window go to TikTok as one inventory update.
TIKTOK_STOCK_PUSH_WINDOW = parse_duration(env.str("TIKTOK_STOCK_PUSH_WINDOW", default="1s"))
# Every linked SKU's stock is pushed again this often, to correct drift.
TIKTOK_STOCK_SYNC_INTERVAL = parse_duration(env.str("TIKTOK_STOCK_SYNC_INTERVAL", default="1h"))
# Events processed (or ignored) are deleted this long afterwards; failed ones wait for staff.
TIKTOK_EVENT_RETENTION = parse_duration(env.str("TIKTOK_EVENT_RETENTION", default="30d"))
if (TIKTOK_APP_KEY and not TIKTOK_APP_SECRET) or (TIKTOK_APP_SECRET and not TIKTOK_APP_KEY):
    raise ImproperlyConfigured("TIKTOK_APP_KEY and TIKTOK_APP_SECRET are set together, or not at all.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # stripe-python logs every request at INFO; our services log what matters.
        "stripe": {"level": "WARNING"},
    },
}
