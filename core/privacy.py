"""Buyer privacy (DOMAIN.md R12): how buyer details look to anyone who may not see them in full.

Partner API responses, the seller portal and admin users without the
``orders.view_buyer_details`` permission all show the same masked forms, so
the rules live here once. Every helper is a pure function of its input: it
never looks at who is asking, which is the caller's decision.

Masking keeps just enough to recognise a buyer on a support call (an initial,
the last four phone digits, the email domain) and nothing that would let the
seller contact the buyer outside the marketplace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MASK = "***"
# Fewer digits than this and the "last four" would be most of the number.
_MIN_PHONE_DIGITS_TO_SHOW_TAIL = 7


def mask_name(name: str) -> str:
    """``"John Doe"`` → ``"J*** D***"``: the first letter of every word, the rest hidden."""
    return " ".join(word[0] + MASK for word in (name or "").split())


def mask_phone(phone: str) -> str:
    """``"+1 555 010 1234"`` → ``"***-***-1234"``: only the last four digits stay.

    Short numbers are hidden entirely, since their last four digits would give
    most of them away; an input without digits gives ``""``.
    """
    digits = re.sub(r"\D", "", phone or "")
    if not digits:
        return ""
    if len(digits) < _MIN_PHONE_DIGITS_TO_SHOW_TAIL:
        return f"{MASK}-{MASK}"
    return f"{MASK}-{MASK}-{digits[-4:]}"


def mask_email(email: str) -> str:
    """``"jane@example.com"`` → ``"j***@example.com"``: the first letter of the mailbox and the domain.

    Text that is not an address (no ``@``) is hidden entirely.
    """
    email = (email or "").strip()
    if not email:
        return ""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return MASK
    return f"{local[0]}{MASK}@{domain}"


def mask_address(address: Mapping[str, str]) -> dict[str, str]:
    """Keep only ``city`` and ``region`` of a shipping address; street, postal code and the rest are dropped."""
    return {"city": address.get("city") or "", "region": address.get("region") or ""}


def masked_buyer(order) -> dict[str, str]:
    """The buyer of ``order`` (anything with ``buyer_name``, ``buyer_phone``, ``buyer_email``), masked."""
    return {
        "name": mask_name(order.buyer_name),
        "phone": mask_phone(order.buyer_phone),
        "email": mask_email(order.buyer_email),
    }


def masked_shipping_address(order) -> dict[str, str]:
    """The shipping address of ``order`` (its ``ship_*`` fields), reduced to city and region."""
    return mask_address({"city": order.ship_city, "region": order.ship_region})
