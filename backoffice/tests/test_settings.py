"""Settings come from the environment, and production refuses unsafe ones."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from core.durations import parse_duration, parse_duration_list

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 20 + "-a-long-random-production-secret-0123456789"


def run_manage(*args, **env):
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    full_env["ENV_FILE"] = ""  # a developer's .env (written by `make run`) must not change what is tested
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "key",
    [
        None,
        "dev-only-insecure-secret-key-change-me",
        "short",
        "a" * 50,  # long, but one character: ``check --deploy`` calls it weak, so do the settings
        "abcd" * 20,  # four different characters
        "django-insecure-" + "x1y2z3" * 10,  # Django's own generated development key
    ],
)
def test_production_refuses_missing_default_or_weak_secret_key(key):
    env = {"DEBUG": "false"}
    if key is not None:
        env["SECRET_KEY"] = key
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_commands_that_only_read_the_models_run_without_production_secrets():
    result = run_manage("makemigrations", "--check", "--dry-run")

    assert result.returncode == 0, result.stderr + result.stdout
    assert "No changes detected" in result.stdout


def test_any_other_command_says_why_settings_refused_to_load():
    result = run_manage("migrate", "--check")

    assert result.returncode != 0
    assert "Settings refused to load: SECRET_KEY must be set" in result.stderr
    assert "AppRegistryNotReady" not in result.stderr  # Django's own follow-on error, which hid the cause
    # ... and how to fix it.
    assert "run `make run` once (it writes a .env with DEBUG=true) or `export DEBUG=true`" in result.stderr


def test_commands_run_outside_make_with_the_env_file_make_run_writes(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\n")

    result = run_manage("check", ENV_FILE=str(env_file))

    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_in_production():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="backoffice.example.com",
        STRIPE_SECRET_KEY="sk_live_" + "a1" * 20,
        STRIPE_PUBLISHABLE_KEY="pk_live_" + "b2" * 20,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_time_windows_come_from_the_environment():
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings as s; print(s.PAYMENT_WINDOW, s.HOLD_PERIOD, s.DELIVERY_WINDOW)",
        DEBUG="true",
        PAYMENT_WINDOW="12h",
        HOLD_PERIOD="90m",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["12:00:00", "1:30:00", "11", "days,", "0:00:00"]


@pytest.mark.parametrize(("max_age", "checked"), [("0", "False"), ("60", "True"), ("-1", "True")])
def test_persistent_connections_are_health_checked_before_reuse(max_age, checked):
    """After a database restart, a kept connection is found dead and replaced instead of failing a request."""
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings as s; print(s.DATABASES['default']['CONN_HEALTH_CHECKS'])",
        DEBUG="true",
        CONN_MAX_AGE=max_age,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == checked


def test_parse_duration():
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("60m") == timedelta(minutes=60)
    assert parse_duration("11d") == timedelta(days=11)
    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_duration_list("1h, 6h,24h") == [timedelta(hours=1), timedelta(hours=6), timedelta(hours=24)]
    for bad in ("", "soon", "-1h", "1w"):
        with pytest.raises(ValueError):
            parse_duration(bad)
