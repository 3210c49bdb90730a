from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared primitives: errors, actors, money, privacy, the timer engine and API plumbing.

    An app only so that its template tags (``{% load money %}``) and the
    abstract audit model are found; it has no tables of its own.
    """

    name = "core"
    verbose_name = "Core"
