"""Project-level pages that belong to no app."""

from django.conf import settings
from django.http import FileResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

FAVICON = settings.BASE_DIR / "static" / "favicon.ico"


@require_GET
@cache_control(public=True, max_age=7 * 24 * 3600)
def favicon(request):
    """Every browser asks for /favicon.ico on every site; answer with our icon rather than a 404."""
    return FileResponse(FAVICON.open("rb"), content_type="image/x-icon")
