"""`sichrplace serve`: one API instance, with a drain phase on SIGTERM."""

from __future__ import annotations

import asyncio
from types import FrameType

import typer
import uvicorn

from sichrplace.app import Application, create_app
from sichrplace.config import get_settings
from sichrplace.platform.http.middleware import ContainErrorsMiddleware
from sichrplace.platform.http.server import CoalescingHttpToolsProtocol


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: report not-ready, keep serving for the drain period, then
    let uvicorn stop accepting, finish in-flight requests and exit."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = self.config.loaded_app
        if self._draining or self.drain_seconds <= 0:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        # The loaded app is the application inside uvicorn's and our own wrappers.
        while app is not None and not isinstance(app, Application):
            app = getattr(app, "app", None)
        if app is not None and app.parts is not None:
            app.parts.draining = True
        loop = asyncio.get_event_loop()
        loop.call_later(self.drain_seconds, super().handle_exit, sig, frame)


def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(58001),
    drain_seconds: float = typer.Option(None, help="default: SICHRPLACE_APP_DRAIN_SECONDS"),
    access_log: bool = typer.Option(False, help="nginx keeps the access log"),
) -> None:
    """Run one API instance."""
    app = create_app()
    drain = get_settings().app.drain_seconds if drain_seconds is None else drain_seconds
    config = uvicorn.Config(
        ContainErrorsMiddleware(app),
        host=host,
        port=port,
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,
        access_log=access_log,
        log_config=None,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=75,
        # Only the load balancer (default: nginx on loopback) is believed: uvicorn takes the
        # right-most address in X-Forwarded-For that is not a trusted proxy (nginx appends
        # the peer it saw), and ignores the header from anyone else.
        proxy_headers=True,
        forwarded_allow_ips=get_settings().app.forwarded_allow_ips,
    )
    DrainingServer(config, drain_seconds=drain).run()
