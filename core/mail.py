"""Development's email backend: one line per email on the terminal, instead of every body in full.

``make run`` shows the web server, the task cluster and the Stripe emulator in
one terminal; whole emails (text and HTML) drowned the rest. Staff see every
seller email in the admin, and the tests read ``mail.outbox``.
"""

from __future__ import annotations

import sys
import threading

from django.core.mail.backends.base import BaseEmailBackend


class SummaryConsoleBackend(BaseEmailBackend):
    """Writes ``email to <recipients>: <subject> (<n> attachment(s) or alternative(s))`` per message."""

    def __init__(self, *args, stream=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()

    def send_messages(self, email_messages):
        if not email_messages:
            return 0
        with self._lock:
            for message in email_messages:
                parts = len(getattr(message, "alternatives", []) or []) + len(message.attachments)
                extra = f" (+{parts} HTML or attachment part{'s' if parts != 1 else ''})" if parts else ""
                self.stream.write(f"email to {', '.join(message.recipients())}: {message.subject}{extra}\n")
            self.stream.flush()
        return len(email_messages)
