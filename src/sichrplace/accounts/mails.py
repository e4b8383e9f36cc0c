"""The accounts' emails (verification, password reset, the sign-in burst notice), each in the
recipient's language: pure functions of their facts (kit/i18n.py, the catalogs)."""

from __future__ import annotations

from dataclasses import dataclass

from sichrplace.kit.i18n import N_, Language, compose

SIGN_OFF = N_("Kind regards\nThe SichrPlace team")


@dataclass(frozen=True, slots=True)
class Letter:
    subject: str
    body: str
    language: Language  # the one it is written in


def verification(language: Language, *, full_name: str, link: str, code: str, hours: int) -> Letter:
    return Letter(
        N_("Confirm your SichrPlace email address").render(language),
        compose(
            language,
            N_("Hello {name},", name=full_name),
            N_("welcome to SichrPlace! Please confirm your email address by opening this link:"),
            link,
            N_("Or enter this code in the app: {code}", code=code),
            N_("The link is valid for {hours} hours.", hours=hours),
            SIGN_OFF,
        ),
        language,
    )


def password_reset(
    language: Language, *, full_name: str, link: str, code: str, minutes: int
) -> Letter:
    return Letter(
        N_("Reset your SichrPlace password").render(language),
        compose(
            language,
            N_("Hello {name},", name=full_name),
            N_(
                "someone (hopefully you) asked to reset your SichrPlace password. To choose a "
                "new one, open this link:"
            ),
            link,
            N_("Or enter this code in the app: {code}", code=code),
            N_(
                "The link is valid for {minutes} minutes and works once. If you did not ask "
                "for it, ignore this mail: your password stays as it is.",
                minutes=minutes,
            ),
            SIGN_OFF,
        ),
        language,
    )


def sign_in_burst(
    language: Language, *, full_name: str, failures: int, window_minutes: int, reset_url: str
) -> Letter:
    """The notice sent once per burst of failed logins to an account."""
    return Letter(
        N_("Many failed sign-in attempts at SichrPlace").render(language),
        compose(
            language,
            N_("Hello {name},", name=full_name),
            N_(
                "in the last {minutes} minutes there were at least {failures} failed sign-in "
                "attempts with your email address at SichrPlace. To protect your account, "
                "sign-ins from unknown devices are slowed down for a while; on devices you "
                "signed in with before you can still sign in.",
                minutes=window_minutes,
                failures=failures,
            ),
            N_(
                "If this was not you, there is nothing to do as long as your password is "
                "safe. You can change it here: {url}",
                url=reset_url,
            ),
            SIGN_OFF,
        ),
        language,
    )
