"""django-q2 entry points of the project. They call services and nothing else."""

from backoffice.pruning import prune_old_rows as _prune_old_rows
from backoffice.timers import process_due_timers as _process_due_timers


def process_due_timers():
    return _process_due_timers()


def prune_old_rows():
    return _prune_old_rows()
