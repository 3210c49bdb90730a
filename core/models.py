"""The one audit trail: an abstract event row every audited model's history table is made of.

Each audited object has its own concrete table (``orders.OrderEvent``,
``fulfillment.ShipmentEvent``, ``payments.PaymentEvent``, ...) with a foreign
key to it, so its history is one indexed read; the columns and their meaning
are the same everywhere. Services write one row per transition or audited
action through ``AuditEvent.record``, in the transaction that made the change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.display import words_for

if TYPE_CHECKING:
    from core.actors import Actor


class AuditEvent(models.Model):
    """Who did what to one object, from which state to which, why, and when."""

    action = models.CharField(max_length=64)
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32, blank=True)
    actor = models.CharField(max_length=250, help_text="Who: partner:Acme, staff:alice, seller:bob or system:timer.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True, help_text="Why, or what changed, in words.")
    data = models.JSONField(default=dict, blank=True, help_text="Details, e.g. the old and new tracking number.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]

    def __str__(self):
        """What happened, in words (an admin inline shows it as the row's title); codes stay in the columns."""
        choices = dict(self._meta.get_field("action").choices or [])
        return words_for(self.action, choices)

    @property
    def actor_kind(self) -> str:
        """``partner``, ``staff``, ``seller`` or ``system``: what people outside the staff may be shown."""
        return self.actor.partition(":")[0]

    @classmethod
    def record(
        cls,
        *,
        actor: Actor,
        action: str,
        from_status: str = "",
        to_status: str = "",
        note: str = "",
        data: dict | None = None,
        **subject,
    ) -> AuditEvent:
        """Write one row; ``subject`` names the audited object's field(s), e.g. ``order=order``."""
        return cls.objects.create(
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=str(actor)[:250],
            user=actor.user,
            note=(note or "")[:500],
            data=data or {},
            **subject,
        )
