"""The portal's TikTok page: the seller connects a TikTok shop (OAuth), sees its state and last sync, disconnects it.

Connecting is TikTok's OAuth code flow. "Connect TikTok Shop" sends the
seller to TikTok's authorisation page with a ``state`` that names the seller
and a one-time nonce kept in the session, signed; TikTok sends them back to
``callback`` with a code, which ``tiktok.services.shop_connect_oauth``
exchanges for tokens. Register ``SITE_URL`` + this callback's path as the
app's redirect URL at TikTok.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError
from portal.auth import error_text, portal_actor, seller_required
from tiktok.models import Shop, ShopStatus
from tiktok.selectors import seller_shops, shop_health
from tiktok.services import shop_connect_oauth, shop_deauthorise

STATE_SALT = "portal.tiktok.oauth"
STATE_MAX_AGE = 30 * 60  # TikTok's code itself lives 30 minutes
SESSION_NONCE = "tiktok_oauth_nonce"
STATUS_TONES = {
    ShopStatus.ACTIVE: "delivered",
    ShopStatus.TOKEN_EXPIRED: "warning",
    ShopStatus.DEAUTHORISED: "cancelled",
}


@require_GET
@seller_required
def tiktok_page(request, seller):
    shops = [(shop, STATUS_TONES.get(shop.status, ""), shop_health(shop)) for shop in seller_shops(seller)]
    configured = bool(settings.TIKTOK_APP_KEY)
    return render(request, "portal/tiktok.html", {"seller": seller, "shops": shops, "configured": configured})


@require_POST
@seller_required
def tiktok_connect(request, seller):
    """Off to TikTok's authorisation page, with a signed state only this session can bring back."""
    if not settings.TIKTOK_APP_KEY:
        messages.error(request, "Connecting TikTok shops is not set up on this site yet. Ask us to turn it on.")
        return redirect("portal:tiktok")
    nonce = secrets.token_urlsafe(16)
    request.session[SESSION_NONCE] = nonce
    state = signing.dumps({"seller": seller.pk, "nonce": nonce}, salt=STATE_SALT)
    query = urlencode({"app_key": settings.TIKTOK_APP_KEY, "state": state})
    return redirect(f"{settings.TIKTOK_AUTH_BASE}/oauth/authorize?{query}")


@require_GET
@seller_required
def tiktok_callback(request, seller):
    """TikTok sends the seller back here with ``code`` and our ``state``."""
    try:
        state = signing.loads(request.GET.get("state", ""), salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        messages.error(request, "That link to connect a TikTok shop is not valid or has expired. Start again.")
        return redirect("portal:tiktok")
    nonce = request.session.pop(SESSION_NONCE, None)
    if state.get("seller") != seller.pk or not nonce or state.get("nonce") != nonce:
        messages.error(request, "That link to connect a TikTok shop was not started here. Start again.")
        return redirect("portal:tiktok")
    if request.GET.get("error") or not request.GET.get("code"):
        messages.warning(request, "The TikTok shop was not connected: the authorisation was not given.")
        return redirect("portal:tiktok")
    try:
        shops = shop_connect_oauth(seller=seller, auth_code=request.GET["code"], actor=portal_actor(request))
    except DomainError as exc:
        messages.error(request, error_text(exc))
        return redirect("portal:tiktok")
    names = ", ".join(str(shop) for shop in shops)
    messages.success(request, f"Connected: {names}. New orders from TikTok now arrive here by themselves.")
    return redirect("portal:tiktok")


@require_POST
@seller_required
def tiktok_disconnect(request, seller, pk: int):
    shop = get_object_or_404(Shop, pk=pk, seller=seller)
    try:
        shop_deauthorise(shop_id=shop.pk, actor=portal_actor(request), note="Disconnected by the seller in the portal.")
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{shop} is disconnected. Its orders stay here; new ones no longer arrive.")
    return redirect("portal:tiktok")
