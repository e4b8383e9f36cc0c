"""What every page module uses: its router (HTML, outside the OpenAPI document), the page's
viewer and CSRF token, redirects, and errors shown as pages.

A page route's failure is a page, not problem+json: a problem of the API it called
(ApiProblem) or of the page itself (ProblemError, e.g. a refused CSRF token) is rendered with
the same status, title and detail in the viewer's language; a 401 from the API (the session
ended) sends the browser to the login page and back.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sichrplace.kit.errors import ProblemError
from sichrplace.web import csrf
from sichrplace.web.client import ApiClient, ApiProblem
from sichrplace.web.rendering import Page, page_headers, render
from sichrplace.web.session import Viewer, apply_cookies, cookie_names, forget_session, viewer_of

LOGIN_PATH = "/anmelden"
VIEWER_KEY = "web_viewer"


class LoginRequired(Exception):
    """The page needs a signed-in viewer (of `role`, if given)."""

    def __init__(self, role: str | None = None) -> None:
        super().__init__(role or "")
        self.role = role


async def viewer(request: Request) -> Viewer:
    """This request's viewer, worked out once (cookies, refresh)."""
    found = request.scope.get(VIEWER_KEY)
    if isinstance(found, Viewer):
        return found
    made = await viewer_of(request)
    request.scope[VIEWER_KEY] = made
    return made


async def page(request: Request, template: str) -> Page:
    """The page to render `template` for this request's viewer."""
    seen = await viewer(request)
    return Page(request, seen, csrf.token_for(request, seen), template)


async def signed_in(request: Request, template: str, role: str | None = None) -> Page:
    """As `page`, for a signed-in viewer (of `role`): others go to the login page first."""
    made = await page(request, template)
    if not made.viewer.signed_in:
        raise LoginRequired(role)
    if role is not None and made.viewer.role != role:
        raise ProblemError(status=403, slug="forbidden")
    return made


def api(made: Page) -> ApiClient:
    return ApiClient(made.request, token=made.viewer.token, language=made.language)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to (never another site: no scheme, no host, no //)."""
    if not target:
        return default
    parts = urlsplit(target)
    # Browsers read "/\\host" as "//host": a backslash anywhere is refused as well.
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target


def redirect(request: Request, made: Page | Viewer, to: str, status: int = 303) -> Response:
    """A redirect after a form (303: the browser GETs `to`), keeping the viewer's cookies."""
    response = RedirectResponse(to, status_code=status)
    seen = made.viewer if isinstance(made, Page) else made
    apply_cookies(response, request, seen)
    return response


def _login_redirect(request: Request, seen: Viewer) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.headers.get("referer") or "/"
        target = safe_next(urlsplit(target).path)
    return redirect(request, seen, f"{LOGIN_PATH}?next={quote(target)}")


async def error_page(request: Request, status: int, title: str, detail: str) -> Response:
    made = await page(request, "error")
    return render(
        request, made, {"status": status, "title": title, "detail": detail}, status=status
    )


class PageRoute(APIRoute):
    """A page: failures become pages (see the module)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return _login_redirect(request, await viewer(request))
            except ApiProblem as problem:
                if problem.status == 401:  # the session ended elsewhere (logout, reset)
                    seen = await viewer(request)
                    forget_session(seen, cookie_names(request))
                    return _login_redirect(request, seen)
                return await error_page(request, problem.status, problem.title, problem.detail)
            except ProblemError as exc:
                seen = await viewer(request)
                response = await error_page(
                    request,
                    exc.status,
                    exc.title.render(seen.language),
                    exc.detail.render(seen.language),
                )
                response.headers.update(exc.headers)
                return response

        return handle


def page_router(**kwargs: Any) -> APIRouter:
    """A router of pages: HTML, not part of the API's OpenAPI document."""
    return APIRouter(route_class=PageRoute, include_in_schema=False, **kwargs)


__all__ = [
    "LOGIN_PATH",
    "LoginRequired",
    "Page",
    "api",
    "page",
    "page_headers",
    "page_router",
    "redirect",
    "render",
    "safe_next",
    "signed_in",
    "viewer",
]
