"""Generic row locks for timer passes (specific locks live in each app's ``locks.py``)."""

from django.db import models


def lock_if_due(model: type[models.Model], pk: int, **still_due) -> models.Model | None:
    """Lock one row for a timer, or return None if another worker holds it or it is no longer due.

    ``still_due`` re-checks the deadline under the lock, so a row that another
    worker has already moved is left alone. Precondition: inside ``transaction.atomic()``.
    """
    return model.objects.select_for_update(skip_locked=True, of=("self",)).filter(pk=pk, **still_due).first()
