"""What a queued email must look like, and the message built from it, without a server."""

from __future__ import annotations

import pytest

from sichrplace.kit.errors import Unprocessable
from sichrplace.notifications import mailer, rules

GOOD = {"to": "erika@example.com", "subject": "Willkommen", "dedupe_key": "k"}


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("to", {"to": "a@example.com\nBcc: x@example.com"}),
        ("to", {"to": "not-an-address"}),
        ("to", {"to": ""}),
        ("subject", {"subject": "two\r\nlines"}),
        ("subject", {"subject": ""}),
        ("dedupe_key", {"dedupe_key": ""}),
        ("dedupe_key", {"dedupe_key": "k" * 201}),
    ],
)
def test_a_bad_mail_is_a_422_naming_the_field(field: str, changes: dict[str, str]) -> None:
    with pytest.raises(Unprocessable) as raised:
        rules.check_email(**(GOOD | changes))
    assert [e["field"] for e in raised.value.errors] == [field]


def test_a_good_mail_passes() -> None:
    rules.check_email(**GOOD)
    rules.check_email(**(GOOD | {"dedupe_key": "k" * rules.MAX_DEDUPE_KEY}))


def test_one_dedupe_key_one_message_id() -> None:
    sender = "SichrPlace <noreply@sichrplace.de>"
    first = mailer.message_id_for("accounts:verify-email:1", sender)
    assert first == mailer.message_id_for("accounts:verify-email:1", sender)
    assert first != mailer.message_id_for("accounts:verify-email:2", sender)
    assert first.startswith("<")
    assert first.endswith("@sichrplace.de>")


def test_the_message_carries_its_headers_and_body() -> None:
    msg = mailer.build_message(
        sender="noreply@sichrplace.de",
        to="jürgen@example.com",
        subject="Hallo Jürgen",
        body="Grüße!\n",
        dedupe_key="k",
    )
    assert (msg["From"], msg["To"], msg["Subject"]) == (
        "noreply@sichrplace.de",
        "jürgen@example.com",
        "Hallo Jürgen",
    )
    assert msg["Message-ID"] == mailer.message_id_for("k", "noreply@sichrplace.de")
    assert msg.get_content() == "Grüße!\n"
