"""Mounted at ``/tiktok/``: the webhook TikTok sends to (register ``SITE_URL/tiktok/webhook/`` with TikTok)."""

from django.urls import path

from tiktok import views

app_name = "tiktok"

urlpatterns = [
    path("webhook/", views.webhook, name="webhook"),
]
