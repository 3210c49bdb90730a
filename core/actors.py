"""Who did something: every service takes an explicit ``actor`` and writes it to the audit row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from accounts.models import Partner

ActorKind = Literal["system", "partner", "staff", "seller"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    label: str
    user: AbstractBaseUser | None = None
    partner: Partner | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.label}"

    @classmethod
    def system(cls, label: str = "timer") -> Actor:
        return cls(kind="system", label=label)

    @classmethod
    def for_partner(cls, partner: Partner) -> Actor:
        return cls(kind="partner", label=partner.name, partner=partner)

    @classmethod
    def for_user(cls, user) -> Actor:
        """A logged-in person: staff in the admin, or a seller in the portal."""
        kind: ActorKind = "staff" if user.is_staff else "seller"
        return cls(kind=kind, label=user.get_username(), user=user)


# What a system actor's label means, for people.
SYSTEM_LABELS = {
    "timer": "Automatic (timer)",
    "auto_checkout": "Auto Checkout",
    "payments": "Payments (automatic)",
    "stripe_webhook": "Stripe",
    "load_demo": "Demo data",
    "import_stock": "Stock import",
    "stock_allocation": "Stock allocation (automatic)",
}
KIND_LABELS = {"partner": "Marketplace connector", "staff": "Staff", "seller": "Seller", "system": "Automatic"}


def actor_label(recorded: str) -> str:
    """An audit row's ``actor`` (``kind:label``) in words: "Staff: alice", "Marketplace connector: Acme",
    "Automatic (timer)". The raw form stays in the database, where it is searched and filtered."""
    kind, _, label = (recorded or "").partition(":")
    if kind == "system":
        return SYSTEM_LABELS.get(label, KIND_LABELS["system"])
    if kind in KIND_LABELS:
        return f"{KIND_LABELS[kind]}: {label}" if label else KIND_LABELS[kind]
    return recorded
