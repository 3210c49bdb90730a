from django.apps import AppConfig


class TikTokConfig(AppConfig):
    """A seller's TikTok Shop as a source of orders: shops, signed calls, webhooks in, polling, reconciling."""

    name = "tiktok"
    verbose_name = "TikTok Shop"
