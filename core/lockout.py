"""The page a locked-out login gets (django-axes' ``AXES_LOCKOUT_CALLABLE``), for the admin and the portal alike."""

from __future__ import annotations

import math

from django.conf import settings
from django.shortcuts import render


def login_locked_out(request, original_response=None, credentials=None):
    """429 with ``Retry-After``, and a page saying how long to wait, in words."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = max(1, math.ceil(seconds / 60))
    response = render(request, "login_locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(seconds)
    return response
