"""The media job enqueued by an upload through nginx continues the upload's trace in the
stack's worker (stored by the stack's OTLP receiver)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.stack.layout import layout_for
from sichrplace.stack.traces import SpanStore
from tests.media.conftest import Member, photo
from tests.media.test_upload import upload

pytestmark = pytest.mark.stack


async def test_the_upload_job_continues_the_request_trace(
    settings: Settings, stack_url: str, landlord: Member, listing_id: uuid.UUID
) -> None:
    trace_id = uuid.uuid4().hex[:16] + "0000000000000001"  # kept by any ratio above 0
    async with httpx.AsyncClient(
        base_url=stack_url,
        timeout=10,
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    ) as nginx:
        r = await upload(nginx, listing_id, landlord, photo(640, 480, "JPEG"))
    assert r.status_code == 201, r.text
    store = SpanStore(layout_for(settings).root / "traces" / "spans.sqlite")
    deadline = time.monotonic() + 20
    wanted = {"media.process_image", "POST /api/v1/listings/{listing_id}/images"}
    while True:  # the API and the worker export in their own batches, every few seconds
        spans = store.spans_of(trace_id)
        if wanted <= {s.name for s in spans} or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    by_name = {s.name: s for s in spans}
    assert "job media.make_variants" in by_name, sorted(by_name)
    job = by_name["job media.make_variants"]
    assert job.service == "sichrplace-worker"
    server = by_name["POST /api/v1/listings/{listing_id}/images"]
    assert server.service == "sichrplace-api"
    # The job's parent is the span that enqueued it, inside the upload request.
    request_span_ids = {s.span_id for s in spans if s.service == "sichrplace-api"}
    assert job.parent_id in request_span_ids
    assert by_name["media.process_image"].parent_id == job.span_id
