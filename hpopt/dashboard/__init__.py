"""A live, read-only web dashboard of one or more runs (``hpopt dashboard SAVE_PATH ...``).

The server (:mod:`hpopt.dashboard.server`) is the standard library's ThreadingHTTPServer; what it serves
about a run comes from the views (:mod:`hpopt.dashboard.data`), read through the state store without a lock
and without writing. Charts are Plotly.js from the installed ``plotly`` package (``hpopt[dashboard]``).
"""

from __future__ import annotations

from .data import RunSource, TrialCache
from .server import DASHBOARD_EXTRA, DashboardServer, make_server, plotly_js_path, serve_in_thread

__all__ = ["DASHBOARD_EXTRA", "DashboardServer", "RunSource", "TrialCache", "make_server", "plotly_js_path",
           "serve_in_thread"]
