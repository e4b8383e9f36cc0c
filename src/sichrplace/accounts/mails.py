"""Texts of the accounts' security notices (German first: accounts have no language yet,
so the German text comes first and the English one follows)."""

from __future__ import annotations

SIGN_IN_BURST_SUBJECT = (
    "Viele fehlgeschlagene Anmeldeversuche bei SichrPlace / Many failed sign-in attempts"
)


def sign_in_burst(*, full_name: str, failures: int, window_minutes: int, reset_url: str) -> str:
    """The body of the notice sent once per burst of failed logins to an account."""
    return (
        f"Hallo {full_name},\n\n"
        f"in den letzten {window_minutes} Minuten gab es mindestens {failures} "
        "fehlgeschlagene Anmeldeversuche mit Ihrer E-Mail-Adresse bei SichrPlace. "
        "Zum Schutz Ihres Kontos werden Anmeldungen von unbekannten Geräten vorübergehend "
        "gebremst; auf Geräten, mit denen Sie sich schon angemeldet haben, können Sie sich "
        "weiterhin anmelden.\n\n"
        "Waren Sie das nicht, müssen Sie nichts tun, solange Ihr Passwort sicher ist. "
        f"Sie können es hier ändern: {reset_url}\n\n"
        "---\n\n"
        f"Hello {full_name},\n\n"
        f"in the last {window_minutes} minutes there were at least {failures} failed "
        "sign-in attempts with your email address at SichrPlace. To protect your account, "
        "sign-ins from unknown devices are slowed down for a while; on devices you signed "
        "in with before you can still sign in.\n\n"
        "If this was not you, there is nothing to do as long as your password is safe. "
        f"You can change it here: {reset_url}\n"
    )
