"""Rendering a seller email: a subject, a plain-text body and an HTML body, from one pair of templates.

Every email extends ``email/base.txt`` and ``email/base.html`` (greeting,
sign-off, a link to the portal). Links are absolute: ``SITE_URL`` plus the
portal's URL names.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from accounts.models import Seller

# Where a link falls back to when the page it wants is not part of the portal (yet).
FALLBACK_PAGE = "portal:orders"


def portal_url(name: str, *args, fallback: str | None = FALLBACK_PAGE) -> str | None:
    """The absolute URL of a portal page, for an email.

    If ``name`` cannot be reversed, the link points to ``fallback`` instead
    (the order list by default), or is None when ``fallback`` is None, so a
    template can leave the link out.
    """
    try:
        path = reverse(name, args=args)
    except NoReverseMatch:
        if fallback is None:
            return None
        path = reverse(fallback)
    return f"{settings.SITE_URL}{path}"


@dataclass(frozen=True)
class SellerMessage:
    """A rendered email to a seller, ready to send."""

    to: str
    subject: str
    text: str
    html: str

    def as_email(self) -> EmailMultiAlternatives:
        message = EmailMultiAlternatives(self.subject, self.text, settings.DEFAULT_FROM_EMAIL, [self.to])
        message.attach_alternative(self.html, "text/html")
        return message

    def send(self) -> None:
        """Hand the message to the email backend; raises whatever the backend raises (SMTP errors, timeouts)."""
        self.as_email().send(fail_silently=False)


def seller_message(*, seller: Seller, template: str, subject: str, context: dict) -> SellerMessage:
    """Render ``email/<template>.txt`` and ``email/<template>.html`` for ``seller``.

    The templates get ``seller``, ``subject``, ``portal_url`` (the order list)
    and ``context``.
    """
    context = {"seller": seller, "subject": subject, "portal_url": portal_url(FALLBACK_PAGE), **context}
    text = render_to_string(f"email/{template}.txt", context).strip() + "\n"
    html = render_to_string(f"email/{template}.html", context)
    return SellerMessage(to=seller.email, subject=subject, text=_tidy(text), html=html)


def _tidy(text: str) -> str:
    """Collapse the blank lines template tags leave behind: at most one empty line in a row."""
    lines, blank = [], False
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            if not blank and lines:
                lines.append("")
            blank = True
            continue
        blank = False
        lines.append(line)
    return "\n".join(lines).strip() + "\n"
