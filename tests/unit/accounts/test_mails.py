"""The accounts' emails in both languages, one language per mail (accounts/mails.py)."""

from __future__ import annotations

from sichrplace.accounts import mails


def test_verification_and_reset_in_german_and_english() -> None:
    facts = {"full_name": "Erika", "link": "https://x/verify?token=t0k", "code": "t0k"}
    german = mails.verification("de", hours=48, **facts)
    english = mails.verification("en", hours=48, **facts)
    assert german.subject == "Bestätigen Sie Ihre E-Mail-Adresse bei SichrPlace"
    assert german.body.startswith("Hallo Erika,\n\nwillkommen bei SichrPlace!")
    assert "https://x/verify?token=t0k\n\nOder geben Sie diesen Code in der App ein: t0k" in (
        german.body
    )
    assert "Der Link ist 48 Stunden gültig." in german.body
    assert english.subject == "Confirm your SichrPlace email address"
    assert "Or enter this code in the app: t0k" in english.body
    assert "The link is valid for 48 hours." in english.body
    reset = mails.password_reset("de", minutes=30, **facts)
    assert reset.subject == "Setzen Sie Ihr SichrPlace-Passwort zurück"
    assert "30 Minuten gültig" in reset.body
    assert "30 minutes" in mails.password_reset("en", minutes=30, **facts).body


def test_the_sign_in_burst_notice_is_one_language() -> None:
    facts = {"full_name": "Erika", "failures": 20, "window_minutes": 15, "reset_url": "https://r"}
    german = mails.sign_in_burst("de", **facts)
    english = mails.sign_in_burst("en", **facts)
    assert german.subject == "Viele fehlgeschlagene Anmeldeversuche bei SichrPlace"
    assert "in den letzten 15 Minuten gab es mindestens 20" in german.body
    assert "Sie können es hier ändern: https://r" in german.body
    assert "Hello" not in german.body
    assert english.subject == "Many failed sign-in attempts at SichrPlace"
    assert "in the last 15 minutes there were at least 20 failed" in english.body
    assert "Hallo" not in english.body
