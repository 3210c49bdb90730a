"""Queueing django-q2 tasks from services."""

from __future__ import annotations

from django.db import transaction
from django_q.tasks import async_task


def enqueue_on_commit(func: str, *args) -> None:
    """Queue a django-q2 task once the current transaction commits (at once outside one).

    ``robust``: a broker hiccup must not fail the request that committed; every
    task here has a timer that picks its work up again from the database.
    """

    transaction.on_commit(lambda: async_task(func, *args), robust=True)
