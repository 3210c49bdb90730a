"""Account writes: sellers, their portal users, partners and partner API keys.

The management commands and the admin both provision through these functions,
so a seller created from the shell and one created by staff are checked the
same way. Accounts have no audit table of their own: each action is logged
with its actor, and the admin also writes Django's LogEntry.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Partner, PartnerApiKey, Seller, SellerMembership, seller_code_validator
from core.actors import Actor
from core.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

# A key prefix is 32 random bits, so a clash is rare but possible once there are
# tens of thousands of keys; a fresh draw is all it takes.
_KEY_PREFIX_ATTEMPTS = 5


def _clean_seller_fields(*, name: str, email: str) -> tuple[str, str]:
    name, email = (name or "").strip(), (email or "").strip()
    if not name or len(name) > Seller._meta.get_field("name").max_length:
        raise InvalidInput("A seller needs a name of 1-200 characters.", code="invalid_name")
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(f"{email!r} is not a valid email address.", code="invalid_email") from None
    return name, email


# --- sellers --------------------------------------------------------------------------


def seller_create(*, code: str, name: str, email: str, auto_checkout: bool = False, actor: Actor) -> Seller:
    """Create a seller. The code is how partners and CSV files name the seller, so it never changes.

    Raises InvalidInput for a malformed code, name or email, and for a code
    that is taken (the unique constraint decides, so two concurrent calls
    cannot both succeed).
    """
    code = (code or "").strip()
    try:
        seller_code_validator(code)
    except ValidationError as exc:
        raise InvalidInput(f"Seller code {code!r}: {exc.messages[0]}", code="invalid_code") from None
    name, email = _clean_seller_fields(name=name, email=email)
    try:
        with transaction.atomic():
            seller = Seller.objects.create(code=code, name=name, email=email, auto_checkout=auto_checkout)
    except IntegrityError:
        raise InvalidInput(f"A seller with code {code!r} already exists.", code="duplicate_seller") from None
    logger.info("seller %s created by %s", seller.code, actor)
    return seller


def seller_update(*, seller_id: int, name: str, email: str, auto_checkout: bool, actor: Actor) -> Seller:
    """Change a seller's name, email or Auto Checkout flag (never its code)."""
    name, email = _clean_seller_fields(name=name, email=email)
    with transaction.atomic():
        seller = Seller.objects.select_for_update().filter(pk=seller_id).first()
        if seller is None:
            raise NotFound(f"Seller {seller_id} does not exist.")
        wanted = {"name": name, "email": email, "auto_checkout": auto_checkout}
        changed = [field for field, value in wanted.items() if getattr(seller, field) != value]
        if not changed:
            return seller
        for field in changed:
            setattr(seller, field, wanted[field])
        seller.save(update_fields=changed)
    logger.info("seller %s changed (%s) by %s", seller.code, ", ".join(changed), actor)
    return seller


def seller_membership_add(*, seller: Seller, user, actor: Actor) -> SellerMembership:
    """Let ``user`` log in to the portal for ``seller``.

    Staff accounts are refused: a staff user acts as staff everywhere
    (``Actor.for_user``), so giving one a seller login would blur the audit trail.
    A user belongs to one seller at most (a one-to-one row).
    """
    if user.is_staff or user.is_superuser:
        raise InvalidInput(
            f"{user.get_username()} is a staff account; portal users must not be staff.", code="staff_user"
        )
    try:
        with transaction.atomic():
            membership = SellerMembership.objects.create(user=user, seller=seller)
    except IntegrityError:
        raise InvalidInput(f"{user.get_username()} already belongs to a seller.", code="user_has_seller") from None
    logger.info("user %s joined seller %s by %s", user.get_username(), seller.code, actor)
    return membership


def seller_membership_remove(*, membership_id: int, actor: Actor) -> None:
    """Take a user's portal access to a seller away; removing it twice is a no-op."""
    membership = SellerMembership.objects.select_related("user", "seller").filter(pk=membership_id).first()
    if membership is None:
        return
    membership.delete()
    logger.info("user %s left seller %s by %s", membership.user.get_username(), membership.seller.code, actor)


def seller_user_create(*, seller: Seller, username: str, email: str, password: str | None, actor: Actor):
    """Create a portal login for ``seller``. Without a password the user must reset it before logging in."""
    User = get_user_model()
    username = (username or "").strip()
    if not username:
        raise InvalidInput("A username is required.", code="invalid_username")
    with transaction.atomic():
        try:
            with transaction.atomic():
                user = User.objects.create_user(username=username, email=email, password=password)
        except IntegrityError:
            raise InvalidInput(f"The username {username!r} is taken.", code="duplicate_username") from None
        seller_membership_add(seller=seller, user=user, actor=actor)
    return user


# --- partners and their API keys ------------------------------------------------------


def _sellers_for_codes(codes: list[str]) -> list[Seller]:
    wanted = {code.strip() for code in codes if code and code.strip()}
    found = {s.code: s for s in Seller.objects.filter(code__in=wanted)}
    unknown = sorted(wanted - found.keys())
    if unknown:
        raise InvalidInput(f"Unknown seller code(s): {', '.join(unknown)}.", code="unknown_seller")
    return [found[code] for code in sorted(found)]


def partner_create(*, name: str, seller_codes: list[str], actor: Actor) -> Partner:
    """Create a partner allowed to act for the sellers with ``seller_codes``.

    Every code must exist, or nothing is written. Partner names are unique
    regardless of case (a database constraint). Issue its first key with
    ``partner_api_key_issue``, in the same transaction if the two belong together.
    """
    name = (name or "").strip()
    if not name or len(name) > Partner._meta.get_field("name").max_length:
        raise InvalidInput("A partner needs a name of 1-200 characters.", code="invalid_name")
    sellers = _sellers_for_codes(seller_codes)
    try:
        with transaction.atomic():
            partner = Partner.objects.create(name=name)
            partner.sellers.add(*sellers)
    except IntegrityError:
        raise InvalidInput(f"A partner named {name!r} already exists.", code="duplicate_partner") from None
    logger.info("partner %s created for %s by %s", partner.name, ",".join(s.code for s in sellers) or "-", actor)
    return partner


def partner_update(*, partner_id: int, name: str, sellers: list[Seller], is_active: bool, actor: Actor) -> Partner:
    """Rename a partner, change the sellers it may act for, or (de)activate it.

    A deactivated partner's keys stop working at once (authentication checks
    ``partner.is_active``); its orders stay.
    """
    name = (name or "").strip()
    if not name or len(name) > Partner._meta.get_field("name").max_length:
        raise InvalidInput("A partner needs a name of 1-200 characters.", code="invalid_name")
    try:
        with transaction.atomic():
            partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
            if partner is None:
                raise NotFound(f"Partner {partner_id} does not exist.")
            changed = [f for f, v in (("name", name), ("is_active", is_active)) if getattr(partner, f) != v]
            partner.name, partner.is_active = name, is_active
            if changed:
                partner.save(update_fields=changed)
            partner.sellers.set(sellers)
    except IntegrityError:
        raise InvalidInput(f"A partner named {name!r} already exists.", code="duplicate_partner") from None
    logger.info("partner %s updated by %s", partner.name, actor)
    return partner


def partner_api_key_issue(*, partner_id: int, label: str = "", actor: Actor) -> tuple[PartnerApiKey, str]:
    """Issue a new API key; return ``(key_row, raw_key)``.

    Only the digest is stored: the raw key exists in the return value alone, so
    the caller must show it to a person at once and never log it.
    """
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        raise NotFound(f"Partner {partner_id} does not exist.")
    attempts = 0
    while True:
        prefix, raw_key = PartnerApiKey.generate()
        try:
            with transaction.atomic():
                key = PartnerApiKey.objects.create(
                    partner=partner, prefix=prefix, digest=PartnerApiKey.digest_for(raw_key), label=(label or "")[:100]
                )
            break
        except IntegrityError:
            attempts += 1
            if attempts >= _KEY_PREFIX_ATTEMPTS:
                raise
    logger.info("API key %s… issued to partner %s by %s", key.prefix, partner.name, actor)
    return key, raw_key


def partner_api_key_revoke(*, key_id: int, actor: Actor) -> PartnerApiKey:
    """Revoke a key from now on. Revoking a revoked key keeps its first revocation time."""
    with transaction.atomic():
        key = PartnerApiKey.objects.select_for_update().select_related("partner").filter(pk=key_id).first()
        if key is None:
            raise NotFound(f"API key {key_id} does not exist.")
        now = timezone.now()
        if key.revoked_at is not None and key.revoked_at <= now:
            return key
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
    logger.info("API key %s… of partner %s revoked by %s", key.prefix, key.partner.name, actor)
    return key
