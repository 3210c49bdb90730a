"""The partner API, mounted at ``/api/v1/``: the schema, its docs, and one route list per resource."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", authentication_classes=[], permission_classes=[]),
        name="api-docs",
    ),
    path("", include("api.orders.urls")),
    path("", include("api.fulfillment.urls")),
    path("", include("api.cancellations.urls")),
    path("", include("api.returns.urls")),
]
