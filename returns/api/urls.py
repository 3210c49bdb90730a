"""Routes of the reverse flows under ``/api/v1/``; each module owns its own list."""

from returns.api import cancellations, returns

urlpatterns = [*cancellations.urlpatterns, *returns.urlpatterns]
