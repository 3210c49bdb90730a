"""Carrier writes (R10): the list of carriers staff keep, and the checks a tracking number and a
handover method must pass for a carrier."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from core.actors import Actor
from core.errors import InvalidInput, PermissionRefused
from fulfillment.models import Carrier, Handover, Shipment

logger = logging.getLogger(__name__)


def require(actor: Actor, perm: str, message: str) -> None:
    """Staff need ``perm``; partners and the system act through their own checks (API auth, timers)."""
    if actor.user is not None and not actor.user.has_perm(perm):
        raise PermissionRefused(message)


_CARRIER_FIELDS = ("name", "tracking_pattern", "tracking_example", "tracking_url", "handover", "active")


def carrier_create(
    *,
    code: str,
    name: str,
    tracking_pattern: str,
    handover: str,
    tracking_example: str = "",
    tracking_url: str = "",
    active: bool = True,
    actor: Actor,
) -> Carrier:
    """Add a carrier to the list staff keep (R10). The pattern must be a valid regular expression."""
    require(actor, "fulfillment.add_carrier", "You do not have permission to add carriers.")
    carrier = Carrier(
        code=code,
        name=name,
        tracking_pattern=tracking_pattern,
        tracking_example=tracking_example,
        handover=handover,
        tracking_url=tracking_url,
        active=active,
    )
    _carrier_clean(carrier)
    try:
        with transaction.atomic():
            carrier.save()
    except IntegrityError:
        raise InvalidInput(f"A carrier with code {code!r} already exists.", code="carrier_code_taken") from None
    logger.info("carrier %s added by %s", code, actor)
    return carrier


def carrier_update(*, carrier_id: int, actor: Actor, **changes) -> Carrier:
    """Change a carrier's name, pattern, tracking URL, handover methods or active flag (its code is fixed:
    partners and past parcels refer to it). A new pattern applies to labels and corrections from now on."""
    require(actor, "fulfillment.change_carrier", "You do not have permission to change carriers.")
    unknown = set(changes) - set(_CARRIER_FIELDS)
    if unknown:
        raise InvalidInput(f"Cannot change {', '.join(sorted(unknown))}.", code="invalid")
    with transaction.atomic():
        carrier = Carrier.objects.select_for_update().get(pk=carrier_id)
        fields = [name for name, value in changes.items() if getattr(carrier, name) != value]
        if not fields:
            return carrier
        for name in fields:
            setattr(carrier, name, changes[name])
        _carrier_clean(carrier)
        carrier.save(update_fields=[*fields, "updated_at"])
    logger.info("carrier %s changed by %s: %s", carrier.code, actor, ", ".join(fields))
    return carrier


def _carrier_clean(carrier: Carrier) -> None:
    try:
        carrier.full_clean(validate_unique=False)
    except DjangoValidationError as exc:
        raise InvalidInput(
            "; ".join(
                f"{Carrier._meta.get_field(field).verbose_name}: {' '.join(messages)}"
                for field, messages in exc.message_dict.items()
            ),
            code="invalid_carrier",
        ) from None


def carrier_resolve(carrier: Carrier | str) -> Carrier:
    """An active carrier by instance or code, re-read so a carrier deactivated meanwhile is refused."""
    code = carrier.code if isinstance(carrier, Carrier) else str(carrier or "")
    found = Carrier.objects.filter(code=code).first()
    if found is None:
        raise InvalidInput(f"Unknown carrier {code!r}.", code="unknown_carrier")
    if not found.active:
        raise InvalidInput(f"{found.name} is not an active carrier.", code="carrier_inactive")
    return found


def tracking_number_refusal(carrier: Carrier, number: str) -> str:
    """Why ``number`` is refused, with the carrier's format described by example, never by its pattern."""
    expected = f" A {carrier.name} tracking number is {carrier.tracking_example}." if carrier.tracking_example else ""
    return f"{number} is not a valid {carrier.name} tracking number.{expected}"


def valid_tracking_number(carrier: Carrier, tracking_number: str) -> str:
    number = Carrier.normalize_tracking_number(tracking_number)
    if not number:
        raise InvalidInput("Give the tracking number.", code="tracking_number_required")
    if len(number) > Shipment._meta.get_field("tracking_number").max_length or not carrier.tracking_number_matches(
        number
    ):
        raise InvalidInput(tracking_number_refusal(carrier, number), code="tracking_number_invalid")
    return number


def valid_handover(carrier: Carrier, method: str) -> str:
    if method not in Handover.values:
        raise InvalidInput(f"Handover must be one of {', '.join(Handover.values)}.", code="invalid_handover")
    if not carrier.offers(method):
        raise InvalidInput(
            f"{carrier.name} does not offer {Handover(method).label.split(' (')[0].lower()}; "
            f"it offers {carrier.get_handover_display().lower()}.",
            code="handover_not_offered",
        )
    return method
