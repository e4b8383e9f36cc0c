"""Pages from Jinja2 templates, in the viewer's language, with their security headers.

Templates say `{{ _("Search") }}` (an English message id of the catalogs the emails use,
kit/i18n.py; `{name}` parameters as keywords) and `{{ asset("site.js") }}` (a
content-hashed URL, web/assets.py). Every page carries a strict Content-Security-Policy: scripts
and styles only from our own files (no inline code, no eval), images from us and the map's
tile server, forms posting to us and to the payment provider's approval page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from sichrplace.config import Settings
from sichrplace.kit.i18n import N_, NP_, Day, Language, Moment, Msg, when
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.web import assets
from sichrplace.web.session import Viewer, apply_cookies

TEMPLATES = assets.HERE / "templates"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html", "xml")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["euro"] = euro
    env.filters["json_ld"] = json_ld
    return env


def euro(cents: int | None, language: Language = "de") -> str:
    """1234500 -> '12.345 €' (German) / '€12,345' (English); whole euros unless cents."""
    if cents is None:
        return ""
    whole, rest = divmod(int(cents), 100)
    if language == "en":
        text = f"{whole:,}" + (f".{rest:02d}" if rest else "")
        return f"€{text}"
    text = f"{whole:,}".replace(",", ".") + (f",{rest:02d}" if rest else "")
    return f"{text} €"


def json_ld(value: Any) -> Markup:
    """A JSON-LD block's content: `</` escaped so the text cannot close its script element."""
    return Markup(orjson.dumps(value).decode().replace("</", "<\\/"))  # noqa: S704


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


@cache
def _csp(tile_url: str, payment_pages: tuple[str, ...]) -> str:
    tiles = _origin(tile_url.replace("{s}", "a"))
    forms = " ".join(["'self'", *payment_pages])
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: {tiles}".strip(),
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            # Chrome applies form-action to a post's redirects: the payment provider's
            # approval page is where booking a viewing leads.
            f"form-action {forms}",
        )
    )


def payment_page_origins(settings: Settings) -> tuple[str, ...]:
    """Where the providers' approval pages are: their sites in production, the stack's fakes
    (which serve API and page on one port) elsewhere."""
    if settings.app.environment == "production":
        return ("https://checkout.stripe.com", "https://www.paypal.com")
    return tuple(
        o
        for o in (
            _origin(settings.payments.stripe_api_base),
            _origin(settings.payments.paypal_api_base),
        )
        if o
    )


def content_security_policy(settings: Settings) -> str:
    return _csp(settings.web.tile_url, payment_page_origins(settings))


class Page:
    """What every template sees besides its own values."""

    def __init__(self, request: Request, viewer: Viewer, csrf_token: str, template: str) -> None:
        self.request = request
        self.viewer = viewer
        self.language: Language = viewer.language
        self.csrf_token = csrf_token
        self.template = template  # the page's name in the real-user metrics
        settings = parts_of(request).settings.web
        self._static = settings.static_dir
        # The share of page views whose Core Web Vitals the browser reports (web/rum.py).
        self.rum_rate = settings.rum_sample_rate

    def _(self, msgid: str, /, **params: object) -> str:
        return N_(msgid, **params).render(self.language)

    def n_(self, singular: str, plural: str, count: int, /, **params: object) -> str:
        return NP_(singular, plural, count, count=count, **params).render(self.language)

    def t(self, text: Msg | str | None) -> str:
        """A message made elsewhere (e.g. a service's), in the page's language."""
        if text is None:
            return ""
        return text.render(self.language) if isinstance(text, Msg) else text

    def asset(self, name: str) -> str:
        return assets.url_of(self._static, name)

    def money(self, cents: int | None) -> str:
        return euro(cents, self.language)

    def date(self, value: str | date | None) -> str:
        """A day: 'Freitag, 15. Januar 2027' (Europe/Berlin)."""
        if not value:
            return ""
        day = date.fromisoformat(value) if isinstance(value, str) else value
        return Day(day).render(self.language)

    def moment(self, value: str | datetime | None) -> str:
        """'15.01.2027, 18:00' (Europe/Berlin)."""
        if not value:
            return ""
        at = datetime.fromisoformat(value) if isinstance(value, str) else value
        return Moment(at).render(self.language)

    def appointment(self, starts_at: str | datetime, ends_at: str | datetime) -> str:
        """'Freitag, 15. Januar 2027, 18:00-18:30'."""
        start = datetime.fromisoformat(starts_at) if isinstance(starts_at, str) else starts_at
        end = datetime.fromisoformat(ends_at) if isinstance(ends_at, str) else ends_at
        return when(start, end).render(self.language)


def render(
    request: Request,
    page: Page,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The page's template rendered, with the headers every page has."""
    template = environment().get_template(page.template + ".html")
    values = {"page": page, "_": page._, "n_": page.n_, **(context or {})}
    body = template.render(values)
    response = HTMLResponse(body, status_code=status, headers=page_headers(request, page.language))
    if headers:
        response.headers.update(headers)
    apply_cookies(response, request, page.viewer)
    return response


def page_headers(request: Request, language: Language) -> dict[str, str]:
    settings = parts_of(request).settings
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "Content-Language": language,
        # Pages show who is signed in and carry their CSRF token: never stored by a shared
        # cache, revalidated by the browser (the assets are what is cached for long).
        "Cache-Control": "private, no-cache",
        "Vary": "Cookie, Accept-Language",
    }
