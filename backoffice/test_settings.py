"""Settings for the test suite: the normal settings with DEBUG on and tasks run inline."""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("Q_SYNC", "true")
# The webhook tests deliver to a receiver on loopback; the address check has tests of its own.
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
# The suite sends thousands of API requests from one address; the throttle tests set their own rates.
os.environ.setdefault("API_THROTTLE_RATE_KEY", "1000000/minute")
os.environ.setdefault("API_THROTTLE_RATE_ADDRESS", "1000000/minute")

from backoffice.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not SQLite's default in-memory test database, so that ``--reuse-db`` keeps it between runs:
    # building the schema takes a minute and a half (most of it dj-stripe's migration history).
    # ``make test PYTEST_ARGS=--create-db`` builds it again after a model change.
    (BASE_DIR / "var").mkdir(exist_ok=True)  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test_db.sqlite3")}  # noqa: F405
