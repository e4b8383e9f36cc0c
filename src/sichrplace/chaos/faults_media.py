"""The media folders' disk full (stack/faults/media.py): uploads must fail with a clear
problem+json (503, storage-full) and leave no row or file behind; everything is put back on
clear."""

from __future__ import annotations

from sichrplace.chaos import steps
from sichrplace.chaos.base import Fault, FaultContext, FaultError
from sichrplace.stack.faults import media


def _fill(ctx: FaultContext) -> None:
    try:
        filled = media.fill(ctx.settings, ctx.layout)
    except media.MediaFaultError as exc:
        raise FaultError(str(exc)) from exc
    ctx.progress(f"media disk full: {', '.join(filled)}")


def _restore(ctx: FaultContext) -> None:
    try:
        media.restore(ctx.settings, ctx.layout)
    except media.MediaFaultError as exc:
        raise FaultError(str(exc)) from exc


def _settle(ctx: FaultContext) -> None:
    if media.is_full(ctx.settings):
        raise FaultError("the media folders are still full")
    steps.wait_apis_ready(ctx)


FAULTS = [
    Fault(
        name="media-disk-full",
        description="the media folders' filesystem full (a full tmpfs over each, their files "
        "copied in); uploads fail with 503 problem+json (storage-full)",
        inject=_fill,
        clear=_restore,
        settle=_settle,
        hold_s=10.0,
        quick=True,
    ),
]
