"""django-q2 entry points. They call services and nothing else."""

from backoffice.timers import process_due_timers as _process_due_timers


def process_due_timers():
    return _process_due_timers()


def webhook_event_deliver(event_id: int):
    """Deliver one outbox event now (enqueued on commit of the change that created it)."""
    from backoffice.webhooks import webhook_event_deliver as deliver

    delivery = deliver(event_id)
    return None if delivery is None else delivery.pk
