from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The partner REST API (``/api/v1/``): one view per operation over every app's services and selectors."""

    name = "api"
    verbose_name = "Partner API"
