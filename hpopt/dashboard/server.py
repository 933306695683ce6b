"""The dashboard's HTTP server: the standard library's ThreadingHTTPServer, read-only, local by default.

Endpoints (GET only; anything else is 405):

    /                     the page (static HTML: no run data in it; the script fetches everything as JSON)
    /app.js               the page's script
    /static/plotly.min.js Plotly.js from the installed ``plotly`` package (no CDN: works offline)
    /api/runs             the runs served: [{"index", "save_path", "name"}]
    /api/run/<i>          run i as JSON (see hpopt.dashboard.data); a damaged run gives {"error": ...}
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from .data import RunSource

DASHBOARD_EXTRA = "pip install 'hpopt[dashboard]' (or pip install plotly)"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def plotly_js_path() -> str:
    """The plotly.min.js bundled with the plotly Python package; ImportError naming the extra without it."""
    try:
        import plotly
    except ImportError as exc:
        raise ImportError(f"the dashboard's charts need plotly: {DASHBOARD_EXTRA}") from exc
    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    if not os.path.isfile(path):
        raise ImportError(f"the installed plotly has no package_data/plotly.min.js ({path}): {DASHBOARD_EXTRA}")
    return path


def _asset(name: str) -> bytes:
    return resources.files("hpopt.dashboard").joinpath(name).read_bytes()


class DashboardServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows the runs it serves and the page's files."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], runs: Sequence[RunSource], plotly_js: str) -> None:
        self.runs = list(runs)
        self.plotly_js = plotly_js
        self.page = _asset("page.html")
        self.script = _asset("app.js")
        super().__init__(address, DashboardHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class DashboardHandler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "hpopt-dashboard"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # a request every 2 s per open page: keep the terminal quiet

    def _send(self, code: int, body: bytes, ctype: str, cache: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        # The page runs only its own scripts: an injected <script> or inline handler would not run.
        self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                         "img-src 'self' data:; script-src 'self' 'unsafe-eval'")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, doc: Any, code: int = HTTPStatus.OK) -> None:
        body = json.dumps(doc, allow_nan=False).encode()
        self._send(code, body, "application/json; charset=utf-8")

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path = self.path.split("?", 1)[0]
        try:
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, self.server.page, _TYPES[".html"])
            elif path == "/app.js":
                self._send(HTTPStatus.OK, self.server.script, _TYPES[".js"])
            elif path == "/static/plotly.min.js":
                with open(self.server.plotly_js, "rb") as f:
                    self._send(HTTPStatus.OK, f.read(), _TYPES[".js"], cache=True)
            elif path == "/api/runs":
                self._json([{"index": i, **run.describe()} for i, run in enumerate(self.server.runs)])
            elif path.startswith("/api/run/"):
                index = path[len("/api/run/"):]
                if not index.isdigit() or int(index) >= len(self.server.runs):
                    self._json({"error": f"no run {index!r}: {len(self.server.runs)} served"}, HTTPStatus.NOT_FOUND)
                else:
                    self._send(HTTPStatus.OK, self.server.runs[int(index)].body(), "application/json; charset=utf-8")
            else:
                self._json({"error": f"not found: {path}"}, HTTPStatus.NOT_FOUND)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away mid-answer

    def _refuse(self) -> None:
        self._json({"error": "the dashboard is read-only"}, HTTPStatus.METHOD_NOT_ALLOWED)

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815


def make_server(save_paths: Sequence[str | os.PathLike[str]], host: str = "127.0.0.1", port: int = 8080
                ) -> DashboardServer:
    """A server for the runs in ``save_paths`` (not started: call ``serve_forever``; port 0 picks one)."""
    runs = [RunSource(p) for p in save_paths]
    return DashboardServer((host, port), runs, plotly_js_path())


def serve_in_thread(server: DashboardServer) -> threading.Thread:
    """Serve in a daemon thread (tests, notebooks); stop with ``server.shutdown(); server.server_close()``."""
    thread = threading.Thread(target=server.serve_forever, name="hpopt-dashboard", daemon=True)
    thread.start()
    return thread
