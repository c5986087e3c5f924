"""What the tests run against: the real feedbackd binary, with a recording
Elasticsearch stand-in as its only sink, and a scripted stand-in of
feedbackd's ingest API for answers the real one cannot be made to give on
demand (429, 503, dropped connections)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[3]
SCHEMA_PATH = REPO / "schema" / "event.schema.json"

# Loopback only; a proxy from the environment must not see these requests.
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost"
# The tests assert the failures the client reports; its log would only repeat them.
logging.getLogger("feedbackloop").setLevel(logging.CRITICAL)

_built: Optional[str] = None
_build_lock = threading.Lock()


def feedbackd_binary() -> str:
    """$FEEDBACKD_BIN, or feedbackd built from this checkout once per run."""
    global _built
    with _build_lock:
        if os.environ.get("FEEDBACKD_BIN"):
            return os.environ["FEEDBACKD_BIN"]
        if _built is None:
            out = tempfile.mkdtemp(prefix="feedbackd-bin-")
            binary = os.path.join(out, "feedbackd")
            subprocess.run(
                ["go", "build", "-o", binary, "./pkg/cmd/feedbackd"], cwd=REPO, check=True
            )
            _built = binary
        return _built


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class ElasticsearchStandIn:
    """Answers what feedbackd's Elasticsearch sink calls, as Elasticsearch 8
    documents it: GET / (with the X-Elastic-Product header the official
    client checks), PUT /_index_template/<name> and POST /_bulk with create
    actions (201, or 409 for an _id the index already holds). Any other
    request, or a bulk body not of that shape, is answered 400 and kept in
    ``refused`` for the test to assert empty."""

    def __init__(self) -> None:
        self.docs: List[Dict[str, Any]] = []
        self.ids: Dict[Tuple[str, str], int] = {}
        self.refused: List[str] = []
        self.cond = threading.Condition()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, code: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _refuse(self, why: str) -> None:
                with standin.cond:
                    standin.refused.append(f"{self.command} {self.path}: {why}")
                self._answer(400, {"error": {"type": "standin_refused", "reason": why}, "status": 400})

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                if self.path != "/":
                    return self._refuse("not implemented")
                self._answer(200, {"name": "standin", "version": {"number": "8.15.0"}, "tagline": "You Know, for Search"})

            def do_PUT(self) -> None:
                body = self._body()
                if not re.fullmatch(r"/_index_template/[a-z0-9-]+", self.path):
                    return self._refuse("not implemented")
                try:
                    tpl = json.loads(body)
                except ValueError:
                    return self._refuse("template is not JSON")
                if not isinstance(tpl, dict) or "index_patterns" not in tpl:
                    return self._refuse("template without index_patterns")
                self._answer(200, {"acknowledged": True})

            def do_POST(self) -> None:
                body = self._body()
                if self.path != "/_bulk":
                    return self._refuse("not implemented")
                if self.headers.get("Content-Type") != "application/x-ndjson":
                    return self._refuse("bulk Content-Type must be application/x-ndjson")
                if not body.endswith(b"\n"):
                    return self._refuse("bulk body must end with a newline")
                lines = body[:-1].split(b"\n")
                if len(lines) % 2:
                    return self._refuse("bulk body has an action without a source")
                items = []
                with standin.cond:
                    for i in range(0, len(lines), 2):
                        try:
                            action, source = json.loads(lines[i]), json.loads(lines[i + 1])
                        except ValueError:
                            return self._refuse(f"line {i} is not JSON")
                        meta = action.get("create") if isinstance(action, dict) and len(action) == 1 else None
                        if not isinstance(meta, dict) or set(meta) != {"_index", "_id"} or not isinstance(source, dict):
                            return self._refuse(f"line {i}: not a create action with _index and _id")
                        key = (meta["_index"], meta["_id"])
                        if key in standin.ids:
                            items.append({"create": {"_index": key[0], "_id": key[1], "status": 409}})
                            continue
                        standin.ids[key] = len(standin.docs)
                        standin.docs.append(source)
                        items.append({"create": {"_index": key[0], "_id": key[1], "status": 201}})
                    standin.cond.notify_all()
                self._answer(200, {"took": 1, "errors": False, "items": items})

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait_for(self, match: Callable[[Dict[str, Any]], bool], n: int, limit: float = 30.0) -> List[Dict[str, Any]]:
        """The stored documents that match, once there are n of them (or
        whatever there is after limit seconds, for the test to compare)."""
        end = time.monotonic() + limit
        with self.cond:
            while True:
                got = [d for d in self.docs if match(d)]
                left = end - time.monotonic()
                if len(got) >= n or left <= 0:
                    return got
                self.cond.wait(left)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Feedbackd:
    """One feedbackd process on a free loopback port, delivering to an
    ElasticsearchStandIn."""

    def __init__(self, *args: str, tokens: str = "server-token") -> None:
        self.es = ElasticsearchStandIn()
        self.spool = tempfile.mkdtemp(prefix="feedbackd-spool-")
        self.base = f"http://127.0.0.1:{free_port()}"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [
                feedbackd_binary(),
                "--listen", self.base[len("http://"):],
                "--log-level", "warn",
                "--spool-dir", self.spool,
                "--elasticsearch-url", self.es.url,
                "--tokens", tokens,
                *args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        end = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    self.stop()
                    raise RuntimeError("feedbackd did not come up:\n" + self.output())
                time.sleep(0.05)

    def ingest_requests(self) -> Dict[str, int]:
        """feedbackd_ingest_requests_total by code, from /metrics."""
        with urllib.request.urlopen(self.base + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        out = {}
        for m in re.finditer(r'^feedbackd_ingest_requests_total\{code="(\d+)"\} (\d+)$', text, re.M):
            out[m.group(1)] = int(m.group(2))
        return out

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.es.close()
        shutil.rmtree(self.spool, ignore_errors=True)


class IngestStandIn:
    """A scripted stand-in of feedbackd's write endpoints. Each request must
    be what feedbackd documents (POST of a JSON array of events to the
    endpoint of their kind, bearer token, JSON content type); one that is
    not is answered 400 and kept in ``refused``. Otherwise the next scripted
    answer is given: (status, headers, body) or "drop" to close the
    connection without answering; when the script is used up, 202."""

    KIND_PATHS = {"feedback": "/v1/feedback", "interaction": "/v1/interactions"}

    def __init__(self, token: str, script: List[Any]) -> None:
        self.token = token
        self.script = list(script)
        self.requests: List[Tuple[str, bytes]] = []
        self.refused: List[str] = []
        self.cond = threading.Condition()
        self.hold: Optional[threading.Event] = None  # set: answers wait for it
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, headers: Dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                why = standin._check(self.path, self.headers, body)
                with standin.cond:
                    standin.requests.append((self.path, body))
                    if why:
                        standin.refused.append(why)
                    answer = standin.script.pop(0) if standin.script and not why else None
                    standin.cond.notify_all()
                    hold = standin.hold
                if why:
                    return self._send(400, {}, json.dumps({"error": why}).encode())
                if hold is not None:
                    hold.wait()
                if answer == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if answer is None:
                    n = len(json.loads(body))
                    return self._send(202, {}, json.dumps({"accepted": n, "ids": []}).encode())
                status, headers, doc = answer
                self._send(status, headers, json.dumps(doc).encode())

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def _check(self, path: str, headers: Any, body: bytes) -> str:
        if headers.get("Authorization") != "Bearer " + self.token:
            return "missing or wrong bearer token"
        if headers.get("Content-Type") != "application/json":
            return "Content-Type must be application/json"
        try:
            events = json.loads(body)
        except ValueError:
            return "body is not JSON"
        if not isinstance(events, list) or not events:
            return "body must be a non-empty JSON array"
        for i, e in enumerate(events):
            if not isinstance(e, dict) or self.KIND_PATHS.get(str(e.get("kind"))) != path:
                return f"event {i}: kind {e.get('kind') if isinstance(e, dict) else None!r} does not belong on {path}"
        return ""

    def wait_requests(self, n: int, limit: float = 30.0) -> List[Tuple[str, bytes]]:
        end = time.monotonic() + limit
        with self.cond:
            while len(self.requests) < n and time.monotonic() < end:
                self.cond.wait(end - time.monotonic())
            return list(self.requests)

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()
