from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator console: the admin site, and the model admins that span several apps.

    Admins of one app's own models live in that app (``fulfillment.admin``,
    ``payments.admin``, ...). The ones here bring several layers together: an
    order with its SLA clocks, a seller with its payments, a partner with its
    API keys and webhook settings.
    """

    name = "console"
    verbose_name = "Console"
