"""django-q2 entry points of the outbox. They call services and nothing else."""

from webhooks.services import webhook_event_deliver as deliver


def webhook_event_deliver(event_id: int) -> int | None:
    """Deliver one outbox event now (enqueued on commit of the change that created it)."""
    delivery = deliver(event_id)
    return None if delivery is None else delivery.pk
