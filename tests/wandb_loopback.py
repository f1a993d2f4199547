"""A small W&B GraphQL server on 127.0.0.1, for testing code that uses the REAL ``wandb.Api``.

wandb 0.31's public API sends its GraphQL through the wandb-core sidecar (Go), which posts to
``<base_url>/graphql``. This server answers the operations that ``wandb.Api``, ``api.runs``,
``Run.config`` / ``summary_metrics`` and ``Run.scan_history`` send, as read from the installed
client (``wandb/apis/public/{api,runs,history}.py``) and seen on the wire here:

    Viewer              wandb-core's credential check when ``wandb.Api(api_key=...)`` is made
    GetViewer           ``api.viewer``
    GetDefaultEntity    ``api.default_entity``, read by ``api.runs`` to parse its path
    Runs                ``api.runs(path, filters=, per_page=)``: one page per request, cursor-paged
    Run                 ``Run.load_full_data()``: config, summaryMetrics (lazy listing)
    RunHistoryKeys      ``Run.lastHistoryStep``, read by ``scan_history`` for its last step
    RunParquetHistory   ``scan_history`` (use_cache=True) first asks for the run's parquet
                        export; answered "none", after which wandb-core pages with HistoryPage
    HistoryPage         wandb-core's page of ``scan_history``: rows with minStep <= _step < maxStep
    ServerFeaturesQuery wandb-core asks which server features exist (none here)

The operation texts of wandb-core (Go) are not in the Python package; they were listed with
``strings .venv/.../wandb/bin/wandb-core`` and then logged by this server. Anything else
under /graphql gets a GraphQL error naming the operation (so a query of a future client
shows up as a clear failure), and the telemetry wandb-core posts to ``/sdk/otel/...`` is
accepted and dropped. ``fail_next(op, n, after)`` answers HTTP 500 to ``n`` requests of one
operation, to exercise the client's retries; ``accepted_keys`` makes any other API key
(sent as HTTP basic auth, user ``api``) get HTTP 401, as a rejected key does.

This is a stand-in for the W&B *server* only: the client under test is the real one.
What the real server does beyond this (run filters other than group/tags/config equality,
sampled history, files, parquet exports) is not modelled.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The knobs of wandb-core's GraphQL retries (wandb_settings.py: x_graphql_retry_*), read from
# the environment as WANDB__<name without x_> (Settings.update_from_env_vars). wandb-core
# reads the waits in whole seconds (0.5 becomes 0, i.e. its default backoff of 2, 4, 8 s
# seen here), so 1 s is the shortest wait: one injected error costs 1 s.
FAST_RETRY_ENV = {
    "WANDB__GRAPHQL_RETRY_MAX": "5",
    "WANDB__GRAPHQL_RETRY_WAIT_MIN_SECONDS": "1",
    "WANDB__GRAPHQL_RETRY_WAIT_MAX_SECONDS": "1",
    "WANDB_HTTP_TIMEOUT": "10",
}


@dataclass
class StoredRun:
    """One run as the W&B server holds it."""

    name: str  # the run id ("name" in GraphQL)
    config: dict[str, Any]
    history: list[dict[str, Any]]  # rows with "_step", in the order the server stores them
    display_name: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    state: str = "finished"
    summary: dict[str, Any] = field(default_factory=dict)
    heartbeat_at: str = "2026-11-20T10:00:00"
    created_at: str = "2026-11-19T10:00:00"

    def config_json(self) -> str:
        # How the server stores a run's config: {"key": {"value": v, "desc": null}}.
        return json.dumps({k: {"value": v, "desc": None} for k, v in self.config.items()})

    def node(self, full: bool) -> dict[str, Any]:
        node = {
            "id": f"storage-{self.name}", "name": self.name, "projectId": "1",
            "displayName": self.display_name or self.name, "tags": self.tags,
            "sweepName": None, "state": self.state, "group": self.group, "jobType": None,
            "commit": None, "readOnly": False, "createdAt": self.created_at,
            "heartbeatAt": self.heartbeat_at, "description": None, "notes": None,
            "historyLineCount": len(self.history),
            "user": {"name": "someone", "username": "someone"},
        }
        if full:
            node.update({"config": self.config_json(), "summaryMetrics": json.dumps(self.summary),
                         "systemMetrics": "{}", "historyKeys": self.history_keys()})
        return node

    def history_keys(self) -> dict[str, Any]:
        last = max((row["_step"] for row in self.history), default=-1)
        return {"lastStep": last, "keys": {}}


def _lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def matches(run: StoredRun, filters: Mapping[str, Any]) -> bool:
    """The subset of W&B's MongoDB-style run filters used here: $and, group, tags $in, config.*."""
    for key, want in filters.items():
        if key == "$and":
            if not all(matches(run, clause) for clause in want):
                return False
        elif key == "tags":
            if not set(want["$in"]) & set(run.tags):
                return False
        elif key == "group":
            if run.group != want:
                return False
        elif key.startswith("config."):
            if _lookup(run.config, key.removeprefix("config.").removesuffix(".value")) != want:
                return False
        else:
            raise NotImplementedError(f"filter {key!r} is not modelled by the loopback server")
    return True


class LoopbackWandbServer:
    """Threaded HTTP server answering wandb-core's GraphQL from ``self.projects``."""

    def __init__(self) -> None:
        self.projects: dict[tuple[str, str], list[StoredRun]] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (operation, variables)
        self.failed: list[str] = []  # operations answered with HTTP 500
        self._failures: dict[str, list[int]] = {}  # op -> [requests to let through, to fail]
        self.accepted_keys: set[str] | None = None  # None: any API key is accepted
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def add_run(self, entity: str, project: str, run: StoredRun) -> StoredRun:
        self.projects.setdefault((entity, project), []).append(run)
        return run

    def fail_next(self, operation: str, times: int = 1, after: int = 0) -> None:
        """Answer ``times`` requests of ``operation`` with HTTP 500, after ``after`` good ones."""
        self._failures[operation] = [after, times]

    def operations(self, name: str) -> list[dict[str, Any]]:
        """Variables of every request of operation ``name`` received so far."""
        return [variables for op, variables in self.requests if op == name]

    # -- GraphQL ------------------------------------------------------------------------

    def answer(self, query: str, variables: dict[str, Any],
               api_key: str | None = None) -> tuple[int, dict[str, Any]]:
        op = operation_name(query)
        with self._lock:
            self.requests.append((op, variables))
            if self.accepted_keys is not None and api_key not in self.accepted_keys:
                return 401, {"errors": [{"message": "loopback: invalid API key"}]}
            let_through, to_fail = self._failures.get(op, (0, 0))
            if let_through > 0:
                self._failures[op] = [let_through - 1, to_fail]
            elif to_fail > 0:
                self._failures[op] = [0, to_fail - 1]
                self.failed.append(op)
                return 500, {"errors": [{"message": "loopback: injected server error"}]}
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            return 200, {"errors": [{"message": f"loopback server: no answer for {op}"}]}
        return 200, {"data": handler(variables, query)}

    def _viewer(self) -> dict[str, Any]:
        return {"id": "VXNlcjox", "name": "Someone", "username": "someone", "email": None,
                "admin": False, "flags": None, "entity": "someone", "deletedAt": None,
                "apiKeys": {"edges": []}, "teams": {"edges": []}}

    def _op_Viewer(self, variables, query):
        return {"viewer": self._viewer()}

    def _op_GetViewer(self, variables, query):
        return {"viewer": self._viewer()}

    def _op_GetDefaultEntity(self, variables, query):
        return {"viewer": {"id": "VXNlcjox", "entity": "someone"}}

    def _op_ServerFeaturesQuery(self, variables, query):
        return {"serverInfo": {"features": []}}

    def _project_runs(self, variables) -> list[StoredRun] | None:
        return self.projects.get((variables["entity"], variables["project"]))

    def _op_Runs(self, variables, query):
        runs = self._project_runs(variables)
        if runs is None:
            return {"project": None}
        filters = json.loads(variables.get("filters") or "{}")
        selected = [r for r in runs if matches(r, filters)]
        start = int(variables.get("cursor") or 0)
        per_page = int(variables.get("perPage") or 50)
        page = selected[start:start + per_page]
        full = "fragment RunFragment on Run" in query
        edges = [{"node": r.node(full), "cursor": str(start + i + 1)} for i, r in enumerate(page)]
        return {"project": {
            "internalId": "1", "runCount": len(selected), "readOnly": False,
            "runs": {"edges": edges, "pageInfo": {
                "endCursor": str(start + len(page)),
                "hasNextPage": start + len(page) < len(selected)}}}}

    def _run(self, variables, key: str = "name") -> StoredRun | None:
        for run in self._project_runs(variables) or []:
            if run.name == variables[key]:
                return run
        return None

    def _op_Run(self, variables, query):
        run = self._run(variables)
        return {"project": {"run": run.node(full=True) if run else None}}

    def _op_RunHistoryKeys(self, variables, query):
        run = self._run(variables)
        return {"project": {"run": {"historyKeys": run.history_keys()} if run else None}}

    def _op_HistoryPage(self, variables, query):
        run = self._run(variables, key="run")
        lo, hi = int(variables["minStep"]), int(variables["maxStep"])
        rows = [json.dumps(r) for r in run.history if lo <= r["_step"] < hi]
        return {"project": {"run": {"history": rows}}}

    def _op_RunParquetHistory(self, variables, query):
        return {"project": {"run": {"parquetHistory": {"parquetUrls": [], "liveData": []}}}}

    # -- HTTP ---------------------------------------------------------------------------

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.rstrip("/") != "/graphql":  # wandb-core's telemetry
                    return self._send(200, b"{}")
                request = json.loads(body)
                status, payload = server.answer(request["query"],
                                                dict(request.get("variables") or {}),
                                                api_key=self._api_key())
                self._send(status, json.dumps(payload).encode())

            def _api_key(self) -> str | None:
                # wandb sends the key as HTTP basic auth, user "api".
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Basic "):
                    return None
                return base64.b64decode(auth[6:]).decode().partition(":")[2]

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # quiet
                pass

        return Handler


def operation_name(query: str) -> str:
    """The name of the first GraphQL operation in ``query`` (``query Runs(...)`` -> Runs)."""
    match = re.search(r"\b(query|mutation)\s+(\w+)", query)
    return match.group(2) if match else "anonymous"
