from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from backoffice.views import favicon
from core.api.middleware import api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    # Anything else under /api/ is a JSON 404, never an HTML page or a redirect.
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
    path("portal/", include("portal.urls")),
    # Stripe webhooks: dj-stripe's endpoint, /stripe/webhook/<uuid>/ (signatures verified).
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    # TikTok Shop webhooks (signatures verified): /tiktok/webhook/.
    path("tiktok/", include("tiktok.urls")),
    path("favicon.ico", favicon, name="favicon"),
    path("", RedirectView.as_view(pattern_name="portal:orders", permanent=False)),
]
