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
