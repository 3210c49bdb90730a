"""Development's email backend prints one line per email, not the whole message."""

import io

from django.core.mail import EmailMultiAlternatives

from core.mail import SummaryConsoleBackend


def test_each_email_is_one_line_with_its_recipient_and_subject():
    out = io.StringIO()
    message = EmailMultiAlternatives("Orders wait for payment", "a long body\n" * 50, "from@x.example", ["s@x.example"])
    message.attach_alternative("<p>html</p>" * 50, "text/html")

    sent = SummaryConsoleBackend(stream=out).send_messages([message, message])

    assert sent == 2
    assert out.getvalue().splitlines() == [
        "email to s@x.example: Orders wait for payment (+1 HTML or attachment part)",
        "email to s@x.example: Orders wait for payment (+1 HTML or attachment part)",
    ]
