"""django-q2 entry points of the reverse flows. They call the notification code and nothing else."""

from returns.notify import notify_request_waiting


def request_waiting_email(kind: str, request_id: int) -> str:
    return notify_request_waiting(kind, request_id)
