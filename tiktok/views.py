"""TikTok's side of our HTTP surface: ``POST /tiktok/webhook/``.

The answer comes at once: the event is stored and processed by a task
(``tiktok.services.webhook_receive``). TikTok's retries and replays find the
stored event and change nothing.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import DomainError
from tiktok.services import webhook_receive


@csrf_exempt
@require_POST
def webhook(request):
    """200 once the event is stored (or was already); 401 for a bad signature and 400 for a body that
    is not a notification, with nothing stored."""
    try:
        event, created = webhook_receive(body=request.body, signature=request.headers.get("Authorization", ""))
    except DomainError as exc:
        return JsonResponse({"code": exc.code, "detail": exc.detail}, status=exc.status)
    return JsonResponse({"code": 0, "message": "success", "event": event.pk, "duplicate": not created})
