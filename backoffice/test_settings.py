"""Settings for the test suite: the normal settings with DEBUG on and tasks run inline."""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("Q_SYNC", "true")

from backoffice.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
