"""The database misbehaves under the running product: a restart under persistent connections."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

# One web worker, as gunicorn runs it: persistent connections, two requests, the database restarting between them
# (here: the server ends the worker's session, as a restart or a failover does).
WORKER = textwrap.dedent(
    """
    import io
    import os
    from wsgiref.util import setup_testing_defaults

    import django
    import psycopg

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    # Django's own WSGI handler, as under gunicorn (the test client skips the per-request connection upkeep).
    app = WSGIHandler()


    def ping():
        environ = {"PATH_INFO": "/api/v1/ping/", "HTTP_AUTHORIZATION": "Api-Key " + os.environ["API_KEY"]}
        environ["wsgi.errors"] = io.StringIO()
        setup_testing_defaults(environ)
        statuses = []
        response = app(environ, lambda status, headers: statuses.append(status))
        response.close()
        return statuses[0].split()[0]


    print(ping())
    pid = connection.connection.info.backend_pid
    with psycopg.connect(os.environ["ADMIN_URL"], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    print(ping())
    """
)


def _url(settings_dict: dict, name: str) -> str:
    user = settings_dict["USER"] or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
    return f"postgres://{user}{password}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/{name}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_restarted_database_costs_no_request_with_persistent_connections(api_key):
    settings_dict = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")} | {
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DEBUG": "true",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _url(settings_dict, settings_dict["NAME"]),
        "CONN_MAX_AGE": "60",
        "API_KEY": api_key,
        "ADMIN_URL": _url(settings_dict, "postgres"),
    }
    result = subprocess.run(
        [sys.executable, "-c", WORKER], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "200"], result.stderr
