"""The account page (/konto): the profile and its language, notification preferences, the
password, logging out everywhere, the data export and deleting the account.

Each form posts to its own address and, once the API took it, sends the browser back to
/konto with a notice (post/redirect/get: a reload posts nothing again); a refused form is
the account page again with the API's messages next to the fields. Every change goes through
the public API: PATCH /me, POST /me/password, POST /auth/logout-all, GET /me/export and
DELETE /me.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from sichrplace.kit.i18n import N_, Msg
from sichrplace.web.client import ApiProblem
from sichrplace.web.csrf import checked_form
from sichrplace.web.pages.base import Page, api, page_router, redirect, render, signed_in
from sichrplace.web.session import cookie_names, forget_session

router = page_router()

ACCOUNT = "/konto"
LANGUAGE_COOKIE_SECONDS = 365 * 86400
BERLIN = ZoneInfo("Europe/Berlin")
# The notices after a change: a fixed set of keys in the query (no text of the request is
# shown back), each shown in its form's section (the page opens there: #profile, ...).
SECTIONS = {"profil": "profile", "benachrichtigungen": "notifications", "passwort": "password"}
NOTICES: dict[str, Msg] = {
    "profil": N_("Your profile has been saved."),
    "benachrichtigungen": N_("Your notification settings have been saved."),
    "passwort": N_(
        "Your password has been changed. Your other devices have been logged out; "
        "this one stays logged in."
    ),
}
ROLES: dict[str, Msg] = {
    "tenant": N_("Tenant"),
    "landlord": N_("Landlord"),
    "admin": N_("Administrator"),
}
# The API's names of a form's fields where they differ from the form's: POST /me/password
# names a weak new password `password` (the password rules' field).
ALIASES: dict[str, dict[str, str]] = {"password": {"password": "new_password"}}
Notice = Annotated[str | None, Query(max_length=40)]


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _member_since(created_at: str) -> date:
    """The account's first day, in Berlin."""
    return datetime.fromisoformat(created_at).astimezone(BERLIN).date()


async def _account_page(
    request: Request,
    made: Page,
    *,
    form: str | None = None,
    problem: ApiProblem | None = None,
    values: dict[str, Any] | None = None,
    notice: str | None = None,
) -> Response:
    """The account page; `form` is the one refused with `problem` (its fields keep `values`)."""
    made.template = "account/index"
    me = await api(made).get("/me")
    errors = problem.field_errors() if problem else {}
    for given, shown in ALIASES.get(form or "", {}).items():
        if given in errors:
            errors[shown] = errors.pop(given)
    context = {
        "me": me,
        "role_label": made.t(ROLES.get(me["role"])) or me["role"],
        "member_since": _member_since(me["created_at"]),
        "message_email": bool(me["notification_preferences"].get("message", {}).get("email")),
        "notice": made.t(NOTICES.get(notice or "")),
        "notice_for": SECTIONS.get(notice or ""),
        "failed": form,
        "errors": errors,
        "problem": problem,
        "values": values or {},
    }
    status = problem.status if problem else 200
    headers = _retry(problem) if problem else None
    return render(request, made, context, status=status, headers=headers)


def _done(key: str) -> str:
    """Back to the account page, at the section of the form that was saved."""
    return f"{ACCOUNT}?ok={key}#{SECTIONS[key]}"


def _retry(problem: ApiProblem) -> dict[str, str]:
    after = problem.headers.get("retry-after")
    return {"Retry-After": after} if after else {}


def _refusal(problem: ApiProblem) -> ApiProblem:
    """A refusal to show on the form; anything else (the session ended, a 5xx) is raised on
    to become the error page or the login redirect."""
    if problem.status >= 500 or problem.status == 401:
        raise problem
    return problem


@router.get(ACCOUNT)
async def account(request: Request, ok: Notice = None) -> Response:
    made = await signed_in(request, "account/index")
    return await _account_page(request, made, notice=ok)


@router.post(ACCOUNT + "/profil")
async def save_profile(request: Request) -> Response:
    """Name and language; the pages switch to the new language at once (its cookie)."""
    form = await checked_form(request)
    made = await signed_in(request, "account/index")
    values = {"full_name": _text(form, "full_name"), "language": _text(form, "language")}
    try:
        me = await api(made).patch("/me", values)
    except ApiProblem as problem:
        refused = _refusal(problem)
        return await _account_page(request, made, form="profile", problem=refused, values=values)
    names = cookie_names(request)
    made.viewer.cookies.append((names.language, me["language"], LANGUAGE_COOKIE_SECONDS))
    return redirect(request, made, _done("profil"))


@router.post(ACCOUNT + "/benachrichtigungen")
async def save_notifications(request: Request) -> Response:
    """The preferences; an unticked box is not sent by the browser: it means off."""
    form = await checked_form(request)
    made = await signed_in(request, "account/index")
    wanted = form.get("message_email") == "on"
    body = {"notification_preferences": {"message": {"email": wanted}}}
    try:
        await api(made).patch("/me", body)
    except ApiProblem as problem:
        refused = _refusal(problem)
        return await _account_page(request, made, form="notifications", problem=refused)
    return redirect(request, made, _done("benachrichtigungen"))


@router.post(ACCOUNT + "/passwort")
async def change_password(request: Request) -> Response:
    """A new password: the API ends every other session of the account and keeps this one
    (its tokens stay valid: nothing new to store)."""
    form = await checked_form(request)
    made = await signed_in(request, "account/index")
    body = {
        "current_password": form.get("current_password") or "",
        "new_password": form.get("new_password") or "",
    }
    try:
        await api(made).post("/me/password", body)
    except ApiProblem as problem:
        refused = _refusal(problem)
        return await _account_page(request, made, form="password", problem=refused)
    return redirect(request, made, _done("passwort"))


@router.post(ACCOUNT + "/abmelden-ueberall")
async def logout_everywhere(request: Request) -> Response:
    """Every session of the account ends, this browser's too."""
    await checked_form(request)
    made = await signed_in(request, "account/logged_out")
    await api(made).post("/auth/logout-all")
    forget_session(made.viewer, cookie_names(request))
    return render(request, made)


@router.get(ACCOUNT + "/export")
async def export(request: Request) -> Response:
    """The account's data (GET /me/export) as a JSON download, never stored by a cache."""
    made = await signed_in(request, "account/index")
    answer = await api(made).call("GET", "/me/export")
    day = datetime.now(BERLIN).date().isoformat()
    response = Response(
        answer.content,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="sichrplace-daten-{day}.json"',
            "Cache-Control": "no-store",
        },
    )
    return response


@router.get(ACCOUNT + "/loeschen")
async def delete_page(request: Request) -> Response:
    made = await signed_in(request, "account/delete")
    return render(request, made, {"errors": {}, "problem": None})


@router.post(ACCOUNT + "/loeschen")
async def delete_account(request: Request) -> Response:
    """DELETE /me with the password again; then the browser's session is forgotten and a
    goodbye page says what the law makes us keep."""
    form = await checked_form(request)
    made = await signed_in(request, "account/delete")
    try:
        await api(made).delete("/me", {"password": form.get("password") or ""})
    except ApiProblem as problem:
        if problem.slug == "wrong-password":  # a 401 of the API, yet the session is fine
            wrong: dict[str, Any] = {"errors": {"password": problem.detail}, "problem": None}
            return render(request, made, wrong, status=422)
        refused = _refusal(problem)
        context: dict[str, Any] = {"errors": refused.field_errors(), "problem": refused}
        return render(request, made, context, status=refused.status, headers=_retry(refused))
    forget_session(made.viewer, cookie_names(request))
    made.template = "account/deleted"
    return render(request, made)
