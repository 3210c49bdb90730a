from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """Django's admin app, with the operator console's site (queue counts on the index page)."""

    default_site = "console.site.ConsoleSite"
