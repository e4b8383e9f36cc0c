"""`POST /api/v1/rum`: the Core Web Vitals real users' browsers measured (the web-vitals
library in site.js sends `{page, name, value, id}` with navigator.sendBeacon), recorded as
Prometheus histograms (platform/observability/web_vitals.py).

Anyone may send one: no token, no cookie read (so no CSRF to defend against), hence every
report is distrusted:
- at most `settings.web.rum_per_minute` per client address (429 with Retry-After), counted
  before anything else is looked at;
- at most 2 KB (413): a real report is about 100 bytes;
- validated field by field (4xx problem+json naming the field): `page` a template's name,
  `name` one of the four vitals, `value` a finite number within the vital's range, `id` the
  library's metric id; no other member;
- the page's name is recorded only if a template of that name exists, else as "other" (a
  client cannot mint label values), and each metric id once (web-vitals reports CLS and INP
  again whenever the page is hidden after a change: the first report counts).

Sampling is decided once per page view, in the browser, at `settings.web.rum_sample_rate`
(the page says it in `data-rum`): the four vitals of a view are sent together or not at all.
The endpoint does not sample again, which would square the rate and split views; it records
nothing while the rate is 0 (pages rendered before a switch-off may still report).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from redis.exceptions import RedisError

from sichrplace.kit.errors import InvalidValue, PayloadTooLarge, TooManyRequests
from sichrplace.kit.i18n import N_
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.platform.http.openapi import problems
from sichrplace.platform.observability import web_vitals
from sichrplace.platform.ratelimit import FixedWindowLimiter
from sichrplace.web.rendering import TEMPLATES

MAX_REPORT_BYTES = 2048
LIMITER = "rum"
SEEN_PREFIX = "rum:seen:"
SEEN_SECONDS = 3600  # longer than a tab stays hidden and comes back, mostly
_REDIS_FAILURES = (RedisError, OSError, TimeoutError)

VitalName = Literal["LCP", "INP", "CLS", "TTFB"]
_VITALS: dict[str, web_vitals.Vital] = {"LCP": "lcp", "INP": "inp", "CLS": "cls", "TTFB": "ttfb"}
# The largest value taken per vital: the times in milliseconds (a minute), CLS as a score.
MAXIMUM: dict[str, float] = {"LCP": 60_000, "INP": 60_000, "TTFB": 60_000, "CLS": 10}


class RumReport(BaseModel):
    """One vital of one page view, as web-vitals measured it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    page: Annotated[
        str,
        Field(
            pattern=r"^[a-z][a-z0-9_/-]{0,39}$",
            description="The page's template (`data-page` of its <body>, e.g. `search/results`)"
            '; a name no template has is recorded as "other"',
        ),
    ]
    name: VitalName
    value: Annotated[
        float,
        Field(
            ge=0,
            le=60_000,
            allow_inf_nan=False,
            description="LCP, INP and TTFB in milliseconds (at most 60000); CLS as its "
            "unitless score (at most 10)",
        ),
    ]
    id: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9._:-]{1,100}$",
            description="web-vitals' id of the metric (one per metric and page view)",
        ),
    ]

    @field_validator("value")
    @classmethod
    def _within_the_vitals_range(cls, value: float, info: ValidationInfo) -> float:
        limit = MAXIMUM.get(str(info.data.get("name")))
        if limit is not None and value > limit:
            raise InvalidValue(N_("must be at most {limit}", limit=f"{limit:g}"))
        return value


@cache
def known_pages() -> frozenset[str]:
    """The names of the page templates (not the base, not the `_`-partials): what `page`
    may be recorded as."""
    return frozenset(
        path.relative_to(TEMPLATES).with_suffix("").as_posix()
        for path in TEMPLATES.rglob("*.html")
        if not path.name.startswith("_") and path.name != "base.html"
    )


def page_label(page: str) -> str:
    return page if page in known_pages() else web_vitals.OTHER_PAGE


def _client(request: Request) -> str:
    # `sichrplace serve` believes X-Forwarded-For from the load balancer only, so this is
    # the browser's address.
    return request.client.host if request.client else "unknown"


class RumRoute(APIRoute):
    """The checks before the body is validated: the rate (every report counts, valid or
    not) and the size; and each refusal counted by its reason."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            parts = parts_of(request)
            limiter = FixedWindowLimiter(
                parts.redis,
                name=LIMITER,
                limit=parts.settings.web.rum_per_minute,
                window_seconds=60,
            )
            decision = await limiter.hit(_client(request))
            if not decision.allowed:
                web_vitals.rejected("rate_limited")
                raise TooManyRequests(
                    decision.retry_after, N_("Too many reports from this address; try later.")
                )
            declared = request.headers.get("content-length", "")
            if (declared.isdigit() and int(declared) > MAX_REPORT_BYTES) or len(
                await request.body()
            ) > MAX_REPORT_BYTES:
                web_vitals.rejected("too_large")
                raise PayloadTooLarge(
                    N_("request body exceeds {n} bytes", n=MAX_REPORT_BYTES),
                    errors=[
                        {
                            "field": "body",
                            "message": N_("larger than {n} bytes", n=MAX_REPORT_BYTES),
                        }
                    ],
                )
            try:
                return await handler(request)
            except RequestValidationError:
                web_vitals.rejected("invalid")
                raise

        return handle


router = APIRouter(tags=["rum"], route_class=RumRoute)


async def _first_report(request: Request, report: RumReport) -> bool:
    """Whether this metric id is new (Redis trouble: taken as new, the report recorded)."""
    with contextlib.suppress(*_REDIS_FAILURES):
        key = f"{SEEN_PREFIX}{report.name}:{report.id}"
        return bool(await parts_of(request).redis.set(key, b"1", nx=True, ex=SEEN_SECONDS))
    return True


@router.post(
    "/rum",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Report a Core Web Vital measured in the browser (real-user metrics)",
    responses=problems(
        413,
        422,
        429,
        s413="The report is larger than 2 KB",
        s422="A field is missing, of the wrong type, out of range or not allowed",
        s429="Too many reports from this address",
    ),
)
async def report_vital(report: RumReport, request: Request) -> Response:
    """Anonymous; 204 whether the report was recorded or not (a repeated metric id, or
    real-user metrics switched off): the browser has nothing to do either way."""
    if parts_of(request).settings.web.rum_sample_rate > 0:
        if await _first_report(request, report):
            vital = _VITALS[report.name]
            value = report.value if vital == "cls" else report.value / 1000
            web_vitals.observe(vital, page_label(report.page), value)
        else:
            web_vitals.rejected("duplicate")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
