"""The local stand-in for Slack and Teams incoming webhooks, Alertmanager's receivers in the
stack: every POST's JSON body is appended with its path to a JSONL file, and GET serves them
back (to tests and operators) as a JSON array."""

from __future__ import annotations

import argparse
import json
import threading
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Alertmanager's notifications are a few KB; anything far larger is not one.
MAX_BODY_BYTES = 1 << 20


class WebhookStore:
    """The JSONL file: one {"received_at", "path", "body"} object a line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, path: str, body: object) -> None:
        entry = {
            "received_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "path": path,
            "body": body,
        }
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)

    def entries(self, prefix: str = "/") -> list[dict[str, Any]]:
        """What arrived at paths under `prefix` ("/slack" or "/slack/page"), oldest first."""
        if not self.path.exists():
            return []
        with self._lock:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        found = [json.loads(line) for line in lines if line]
        base = prefix.rstrip("/")
        return [e for e in found if e["path"] == base or e["path"].startswith(base + "/")]


def _handler(store: WebhookStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large")
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self._answer(HTTPStatus.BAD_REQUEST, "not JSON")
                return
            store.append(urlsplit(self.path).path, body)
            self._answer(HTTPStatus.OK, "ok")  # what Slack answers

        def do_GET(self) -> None:
            data = json.dumps(store.entries(urlsplit(self.path).path)).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, status: HTTPStatus, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            print(f"webhook {self.command} {self.path} {args[1] if len(args) > 1 else ''}")

    return Handler


def make_server(host: str, port: int, store: WebhookStore) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), _handler(store))


def serve(host: str, port: int, file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    server = make_server(host, port, WebhookStore(file))
    print(f"webhook receiver on http://{host}:{port}, writing {file}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main() -> None:
    """`python -m sichrplace.stack.webhooks`: what the stack runs (stdlib only, ~15 MB, where
    the `sichrplace` command would load the whole application first, ~140 MB)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    args = parser.parse_args()
    serve(args.host, args.port, args.file)


if __name__ == "__main__":
    main()
