"""Connecting a seller's TikTok shops, keeping their tokens fresh, and disconnecting them.

Two ways in: the OAuth code flow from the portal (``shop_connect_oauth``: the
code is exchanged for tokens, then the authorised shops are read) and the
``tiktok_connect`` command for operations (``shop_connect_with_tokens``). Both
end in ``shop_connect``, which creates the shop with its own partner
("TikTok Shop <name>"), or connects an existing shop again with new tokens.

TikTok is called before any transaction opens; the answers are recorded
afterwards under the shop's lock. Tokens are encrypted before they are saved
and never shown again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Seller
from accounts.services import partner_create
from core.actors import Actor
from core.errors import InvalidInput, NotFound, PermissionRefused, TransitionRefused
from core.tasks import enqueue_on_commit
from tiktok.client import TikTokClient, TikTokError, TokenGrant
from tiktok.locks import lock_shop, lock_shop_by_tiktok_id
from tiktok.models import Shop, ShopAction, ShopEvent, ShopStatus

logger = logging.getLogger(__name__)

# A refresh that failed for a passing reason (TikTok unreachable, rate limited) is tried again after this.
REFRESH_RETRY = timedelta(minutes=10)
PARTNER_NAME_MAX = 200
TOKEN_FIELDS = [
    "access_token_encrypted",
    "refresh_token_encrypted",
    "access_token_expires_at",
    "refresh_token_expires_at",
]
STATUS_FIELDS = ["status", "status_note", "connected_at", "disconnected_at", "token_refresh_at", "next_poll_at"]


def _refresh_at(expires_at: datetime | None) -> datetime:
    now = timezone.now()
    if expires_at is None:
        return now
    return max(now, expires_at - settings.TIKTOK_TOKEN_REFRESH_LEAD)


def _shop_record(shop: Shop, action: ShopAction, *, actor: Actor, from_status: str = "", note: str = "") -> None:
    ShopEvent.record(shop=shop, action=action, from_status=from_status, to_status=shop.status, actor=actor, note=note)


def _partner_for(seller: Seller, *, name: str, shop_id: str, actor: Actor):
    """The new shop's own partner; its orders' ``external_id`` is unique within it."""
    label = f"TikTok Shop {name or shop_id}"[:PARTNER_NAME_MAX]
    try:
        return partner_create(name=label, seller_codes=[seller.code], actor=actor)
    except InvalidInput as exc:
        if exc.code != "duplicate_partner":
            raise
        return partner_create(name=f"{label} ({shop_id})"[:PARTNER_NAME_MAX], seller_codes=[seller.code], actor=actor)


def shop_connect(*, seller: Seller, shop: dict, grant: TokenGrant, actor: Actor) -> tuple[Shop, bool]:
    """Connect one TikTok shop (``{id, name, region, cipher, code}`` as TikTok lists it) to ``seller``
    with ``grant``'s tokens; return ``(shop, created)``.

    A shop already here is connected again: new cipher, tokens and name, status
    active, polling at once. A shop of another seller is refused
    (``shop_of_another_seller``): its orders belong to that seller.
    """
    shop_id, cipher = str(shop.get("id") or ""), str(shop.get("cipher") or "")
    if not shop_id or not cipher:
        raise InvalidInput("A TikTok shop needs its id and cipher.", code="invalid_shop")
    now = timezone.now()
    fields = {
        "shop_cipher": cipher,
        "name": str(shop.get("name") or "")[:200],
        "region": str(shop.get("region") or "")[:8],
        "code": str(shop.get("code") or "")[:32],
    }
    try:
        with transaction.atomic():
            row = lock_shop_by_tiktok_id(shop_id)
            created = row is None
            if created:
                partner = _partner_for(seller, name=fields["name"], shop_id=shop_id, actor=actor)
                row = Shop(seller=seller, partner=partner, shop_id=shop_id, **fields)
            elif row.seller_id != seller.pk:
                raise PermissionRefused(
                    "This TikTok shop is connected to another seller here; ask us to move it.",
                    code="shop_of_another_seller",
                )
            else:
                for name, value in fields.items():
                    setattr(row, name, value)
            from_status = "" if created else row.status
            if not created and row.status != ShopStatus.ACTIVE:
                row.reconnect()
            row.set_tokens(
                access_token=grant.access_token,
                access_expires_at=grant.access_token_expires_at,
                refresh_token=grant.refresh_token,
                refresh_expires_at=grant.refresh_token_expires_at,
            )
            row.token_refresh_at = _refresh_at(grant.access_token_expires_at)
            row.next_poll_at = now
            row.next_stock_sync_at = now
            row.timer_error = ""
            if created:
                row.save(force_insert=True)
            else:
                row.save(
                    update_fields=[
                        *fields,
                        *TOKEN_FIELDS,
                        *STATUS_FIELDS,
                        "timer_error",
                        "next_stock_sync_at",
                        "updated_at",
                    ]
                )
            action = ShopAction.CONNECTED if created else ShopAction.RECONNECTED
            _shop_record(row, action, actor=actor, from_status=from_status, note=f"{row} ({row.region or 'region ?'})")
    except IntegrityError:
        raise TransitionRefused(f"TikTok shop {shop_id} was connected at the same time; try again.") from None
    logger.info(
        "TikTok shop %s %s for seller %s by %s", shop_id, "connected" if created else "reconnected", seller.code, actor
    )
    return row, created


def shop_connect_oauth(
    *, seller: Seller, auth_code: str, actor: Actor, client: TikTokClient | None = None
) -> list[Shop]:
    """The end of the OAuth code flow: exchange ``auth_code`` for tokens, read the shops the seller
    authorised, and connect each one to ``seller``. Raises InvalidInput ``tiktok_refused`` when TikTok
    refuses the code (used, expired) or cannot be reached."""
    if not (auth_code or "").strip():
        raise InvalidInput("TikTok sent no authorisation code.", code="no_auth_code")
    client = client or TikTokClient.from_settings()
    try:
        grant = client.token_get(auth_code=auth_code.strip())
        shops = client.authorized_shops(access_token=grant.access_token)
    except TikTokError as exc:
        raise InvalidInput(f"TikTok did not accept the authorisation: {exc.message}.", code="tiktok_refused") from None
    if not shops:
        raise InvalidInput("The TikTok account has no shop to connect.", code="no_shops")
    return [shop_connect(seller=seller, shop=shop, grant=grant, actor=actor)[0] for shop in shops]


def shop_connect_with_tokens(
    *,
    seller_code: str,
    shop_id: str,
    shop_cipher: str,
    access_token: str,
    refresh_token: str,
    actor: Actor,
    access_expires_at: datetime | None = None,
    name: str = "",
    region: str = "",
    check: bool = True,
    client: TikTokClient | None = None,
) -> tuple[Shop, bool]:
    """Connect a shop from tokens obtained elsewhere (``manage.py tiktok_connect``).

    With ``check`` the access token is tried on TikTok's shop list first: the
    shop must be among the authorised ones, and its name and region are taken
    from there. Without an expiry time the token is refreshed on the next timer
    pass, which also tells us when it expires.
    """
    seller = Seller.objects.filter(code=seller_code).first()
    if seller is None:
        raise NotFound(f"No seller with code {seller_code!r}.", code="unknown_seller")
    if not all(value.strip() for value in (shop_id, shop_cipher, access_token, refresh_token)):
        raise InvalidInput("Give the shop id, cipher, access token and refresh token.", code="invalid")
    shop = {"id": shop_id.strip(), "cipher": shop_cipher.strip(), "name": name, "region": region}
    if check:
        client = client or TikTokClient.from_settings()
        try:
            listed = client.authorized_shops(access_token=access_token.strip())
        except TikTokError as exc:
            raise InvalidInput(f"TikTok refused the access token: {exc.message}.", code="tiktok_refused") from None
        found = next((item for item in listed if str(item.get("id")) == shop["id"]), None)
        if found is None:
            raise InvalidInput(f"Shop {shop_id} is not among the shops this token may act for.", code="unknown_shop")
        shop = {**found, "cipher": shop["cipher"] or found.get("cipher"), "name": name or found.get("name", "")}
    grant = TokenGrant(
        access_token=access_token.strip(),
        access_token_expires_at=access_expires_at,
        refresh_token=refresh_token.strip(),
        refresh_token_expires_at=None,
    )
    return shop_connect(seller=seller, shop=shop, grant=grant, actor=actor)


def shop_tokens_refresh(*, shop_id: int, actor: Actor, client: TikTokClient | None = None) -> Shop | None:
    """Swap the shop's tokens for new ones before the access token expires (the timer's task).

    A refusal that only the seller can fix (the refresh token expired or was
    revoked) marks the shop ``token_expired`` and tells the seller and staff; a
    passing failure is retried after ``REFRESH_RETRY``, unless the access token
    has expired meanwhile. Two refreshes at once: the one whose refresh token is
    no longer the stored one leaves the shop alone.
    """
    shop = Shop.objects.filter(pk=shop_id).first()
    if shop is None or shop.status != ShopStatus.ACTIVE:
        return shop
    used = shop.refresh_token_encrypted
    client = client or TikTokClient.from_settings()
    try:
        grant = client.token_refresh(refresh_token=shop.refresh_token)
    except TikTokError as exc:
        return _refresh_failed(shop.pk, used=used, error=exc, actor=actor)
    with transaction.atomic():
        shop = lock_shop(shop.pk)
        if shop is None or shop.status != ShopStatus.ACTIVE or shop.refresh_token_encrypted != used:
            return shop
        shop.set_tokens(
            access_token=grant.access_token,
            access_expires_at=grant.access_token_expires_at,
            refresh_token=grant.refresh_token,
            refresh_expires_at=grant.refresh_token_expires_at,
        )
        shop.token_refresh_at = _refresh_at(grant.access_token_expires_at)
        shop.timer_error = ""
        shop.save(update_fields=[*TOKEN_FIELDS, "token_refresh_at", "timer_error", "updated_at"])
        note = f"access token valid until {timezone.localtime(grant.access_token_expires_at):%Y-%m-%d %H:%M}"
        _shop_record(shop, ShopAction.TOKENS_REFRESHED, actor=actor, from_status=shop.status, note=note)
    return shop


def _refresh_failed(shop_pk: int, *, used: str, error: TikTokError, actor: Actor) -> Shop | None:
    with transaction.atomic():
        shop = lock_shop(shop_pk)
        if shop is None or shop.status != ShopStatus.ACTIVE or shop.refresh_token_encrypted != used:
            return shop
        now = timezone.now()
        expired = shop.access_token_expires_at is not None and shop.access_token_expires_at <= now
        if error.retryable and not expired:
            shop.token_refresh_at = now + REFRESH_RETRY
            shop.timer_error = str(error)[:500]
            shop.save(update_fields=["token_refresh_at", "timer_error", "updated_at"])
            _shop_record(shop, ShopAction.REFRESH_FAILED, actor=actor, from_status=shop.status, note=str(error))
            logger.warning("TikTok token refresh for %s failed, retried later: %s", shop, error)
            return shop
        from_status = shop.status
        shop.expire_token(note=f"TikTok refused to renew the access: {error.message}. Connect the shop again.")
        shop.save(update_fields=[*STATUS_FIELDS, "updated_at"])
        _shop_record(shop, ShopAction.TOKEN_EXPIRED, actor=actor, from_status=from_status, note=str(error))
        enqueue_on_commit("tiktok.tasks.shop_problem_email", shop.pk)
    logger.error(
        "TikTok shop %s of seller %s: token refresh refused (%s); the seller must connect it again",
        shop.shop_id,
        shop.seller.code,
        error,
    )
    return shop


def shop_deauthorise(*, shop_id: int, actor: Actor, note: str) -> Shop:
    """Disconnect a shop: TikTok told us the seller withdrew our access (type 6), or the seller
    disconnected it in the portal. Nothing is deleted (its orders stay); the tokens are forgotten and
    polling stops. Disconnecting a disconnected shop is a no-op."""
    with transaction.atomic():
        shop = lock_shop(shop_id)
        if shop is None:
            raise NotFound(f"TikTok shop {shop_id} not found.")
        if actor.kind == "seller":
            membership = getattr(actor.user, "seller_membership", None)
            if membership is None or membership.seller_id != shop.seller_id:
                raise NotFound(f"TikTok shop {shop_id} not found.")
        if shop.status == ShopStatus.DEAUTHORISED:
            return shop
        from_status = shop.status
        shop.deauthorise(note=note)
        shop.save(update_fields=[*STATUS_FIELDS, *TOKEN_FIELDS[:2], "updated_at"])
        _shop_record(shop, ShopAction.DEAUTHORISED, actor=actor, from_status=from_status, note=note)
    logger.info("TikTok shop %s disconnected by %s: %s", shop.shop_id, actor, note)
    return shop
