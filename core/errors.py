"""Domain errors carry a stable ``code``; the API maps them to HTTP answers."""


class DomainError(Exception):
    """Base class. ``status`` is the HTTP status the API answers with."""

    code = "error"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class InvalidInput(DomainError):
    code = "invalid"
    status = 400


class NotFound(DomainError):
    code = "not_found"
    status = 404


class TransitionRefused(DomainError):
    """The action is not allowed in the object's current state (HTTP 409)."""

    code = "transition_not_allowed"
    status = 409


class PermissionRefused(DomainError):
    code = "permission_denied"
    status = 403
