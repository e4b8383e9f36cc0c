"""Log in and out, register, confirm the email address, reset a forgotten password.

The emailed links (`/verify-email?token=…`, `/reset-password?token=…`) open a page with a
button: the token is used by the post, so a mail scanner that follows links uses nothing.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from sichrplace.web.client import ApiProblem
from sichrplace.web.csrf import checked_form
from sichrplace.web.pages.base import (
    api,
    page,
    page_router,
    redirect,
    render,
    safe_next,
    viewer,
)
from sichrplace.web.session import apply_cookies, cookie_names, forget_session, store_tokens

router = page_router()

DEVICE_COOKIE = "sp_web_device"  # the API sets its own sp_device for /api/v1/auth only
LANGUAGE_COOKIE_SECONDS = 365 * 86400
Token = Annotated[str, Query(min_length=1, max_length=512)]


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.get("/anmelden")
async def login_page(
    request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    made = await page(request, "accounts/login")
    if made.viewer.signed_in:
        return redirect(request, made, safe_next(next))
    return render(request, made, {"next": safe_next(next), "email": "", "problem": None})


@router.post("/anmelden")
async def login(request: Request) -> Response:
    form = await checked_form(request)
    made = await page(request, "accounts/login")
    email, target = _text(form, "email"), safe_next(_text(form, "next") or None)
    device = request.cookies.get(DEVICE_COOKIE)
    client = api(made)
    try:
        pair = (
            await client.call(
                "POST",
                "/auth/login",
                json={"email": email, "password": form.get("password") or ""},
                headers={"X-Device-Token": device} if device else None,
            )
        ).json()
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        context = {"next": target, "email": email, "problem": problem}
        return render(request, made, context, status=problem.status, headers=_retry(problem))
    names = cookie_names(request)
    store_tokens(made.viewer, names, pair)
    if pair.get("device_token"):  # a known device is not slowed down by others' failures
        made.viewer.cookies.append((DEVICE_COOKIE, pair["device_token"], 180 * 86400))
    client.token = made.viewer.token
    me = await client.get("/me")  # the pages speak the account's language from now on
    made.viewer.cookies.append((names.language, me["language"], LANGUAGE_COOKIE_SECONDS))
    return redirect(request, made, target)


def _retry(problem: ApiProblem) -> dict[str, str]:
    after = problem.headers.get("retry-after")
    return {"Retry-After": after} if after else {}


@router.get("/sitzung")
async def session_check(request: Request) -> Response:
    """204 with the session's cookies refreshed if its access token had expired (the live
    updates call it before opening their event stream again); nothing else."""
    seen = await viewer(request)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    apply_cookies(response, request, seen)
    return response


@router.post("/abmelden")
async def logout(request: Request) -> Response:
    await checked_form(request)
    made = await page(request, "home")
    refresh = request.cookies.get(cookie_names(request).refresh)
    if made.viewer.token:
        with contextlib.suppress(ApiProblem):  # the session is over either way: cookies go
            await api(made).post("/auth/logout", {"refresh_token": refresh} if refresh else {})
    forget_session(made.viewer, cookie_names(request))
    return redirect(request, made, "/")


@router.get("/registrieren")
async def register_page(request: Request) -> Response:
    made = await page(request, "accounts/register")
    return render(request, made, {"values": {"role": "tenant"}, "errors": {}, "problem": None})


@router.post("/registrieren")
async def register(request: Request) -> Response:
    form = await checked_form(request)
    made = await page(request, "accounts/register")
    values = {name: _text(form, name) for name in ("email", "full_name", "role")}
    body = {**values, "password": form.get("password") or ""}
    try:
        await api(made).post("/auth/register", body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        context = {"values": values, "errors": problem.field_errors(), "problem": problem}
        return render(request, made, context, status=problem.status)
    made.template = "accounts/registered"
    return render(request, made, {"email": values["email"]})


@router.get("/verify-email")
async def verify_email_page(request: Request, token: Token) -> Response:
    made = await page(request, "accounts/verify_email")
    return render(request, made, {"token": token, "done": False, "problem": None})


@router.post("/verify-email")
async def verify_email(request: Request) -> Response:
    form = await checked_form(request)
    made = await page(request, "accounts/verify_email")
    token = _text(form, "token")
    try:
        await api(made).post("/auth/verify-email", {"token": token})
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        context = {"token": token, "done": False, "problem": problem}
        return render(request, made, context, status=problem.status)
    return render(request, made, {"token": "", "done": True, "problem": None})


@router.get("/passwort-vergessen")
async def forgot_page(request: Request) -> Response:
    made = await page(request, "accounts/forgot")
    return render(request, made, {"email": "", "sent": False, "errors": {}, "problem": None})


@router.post("/passwort-vergessen")
async def forgot(request: Request) -> Response:
    form = await checked_form(request)
    made = await page(request, "accounts/forgot")
    email = _text(form, "email")
    try:
        await api(made).post("/auth/password-reset/request", {"email": email})
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        context = {
            "email": email,
            "sent": False,
            "errors": problem.field_errors(),
            "problem": problem,
        }
        return render(request, made, context, status=problem.status)
    return render(request, made, {"email": email, "sent": True, "errors": {}, "problem": None})


@router.get("/reset-password")
async def reset_page(request: Request, token: Token) -> Response:
    made = await page(request, "accounts/reset")
    return render(request, made, {"token": token, "done": False, "errors": {}, "problem": None})


@router.post("/reset-password")
async def reset(request: Request) -> Response:
    form = await checked_form(request)
    made = await page(request, "accounts/reset")
    token = _text(form, "token")
    try:
        await api(made).post(
            "/auth/password-reset/confirm", {"token": token, "password": form.get("password") or ""}
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        context = {
            "token": token,
            "done": False,
            "errors": problem.field_errors(),
            "problem": problem,
        }
        return render(request, made, context, status=problem.status)
    return render(request, made, {"token": "", "done": True, "errors": {}, "problem": None})
