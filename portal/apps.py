from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The seller portal (``/portal/``): one module per page group, over every app's services and selectors."""

    name = "portal"
    verbose_name = "Seller portal"
