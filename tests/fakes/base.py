"""What every contract fake shares: a JSON server on 127.0.0.1, a clock the tests can move, and
control routes under `/_fake/` for what the real service does in its dashboard (minting a key,
suspending a tenant). Each fake follows its seed document (`shared/seeds/`); where the document
is silent it does what `docs/connectors.md` says Keyhaven assumes.

A fake keeps only hashes of the keys it hands out, as the documents say the services do.

Tests in other languages drive the control calls over HTTP: `POST /_fake/NAME` with a JSON object
calls the fake's `control_NAME(**object)` and answers with what it returns (`serve.py` starts a
fake by name and prints its URL).
"""

import hashlib
import json
import secrets
import string
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALPHABET = string.ascii_letters + string.digits


def new_secret(prefix: str, length: int = 32) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Answer(Exception):
    """Raised by a route to answer at once with `status` and a JSON body."""

    def __init__(self, status: int, body=None, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class Fake:
    """A service: `routes` maps (METHOD, path) to a method taking the request. Subclasses add
    their state and routes; `control` routes are under `/_fake/`."""

    name = "fake"

    def __init__(self):
        # Re-entrant: a control call made from a route's thread takes it again.
        self.lock = threading.RLock()
        self.now = 1_800_000_000.0  # the fake's clock, in seconds; tests move it
        self.server = None
        self.down = False  # an outage: every call but the control calls answers 503

    # -- the clock ------------------------------------------------------------------------
    def advance(self, seconds: float):
        with self.lock:
            self.now += seconds

    def control_advance(self, seconds):
        self.advance(float(seconds))
        return {"now": self.now}

    def control_outage(self, on):
        self.down = bool(on)
        return {"down": self.down}

    def control(self, request):
        name = request.path.removeprefix("/_fake/").replace("-", "_")
        method = getattr(self, f"control_{name}", None)
        if method is None or request.method != "POST":
            raise Answer(404, {"error": f"no control call {name}"})
        try:
            return ok(method(**(request.body or {})))
        except (TypeError, ValueError) as e:
            raise Answer(400, {"error": str(e)}) from e

    # -- serving --------------------------------------------------------------------------
    def routes(self) -> dict:
        raise NotImplementedError

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: the tests say what matters
                pass

            def handle_any(self):
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                request = Request(self.command, path, query, self.headers, body, self.client_address[0])
                try:
                    if path.startswith("/_fake/"):
                        route = fake.control
                    elif fake.down:
                        raise Answer(503, {"error": "the service is down (a test's outage)"})
                    else:
                        route = fake.routes().get((self.command, path)) or fake.match(self.command, path)
                    if route is None:
                        raise Answer(404, {"error": "not found"})
                    with fake.lock:
                        status, payload, headers = route(request)
                except Answer as a:
                    status, payload, headers = a.status, a.body, a.headers
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, str(v))
                if payload is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def match(self, method: str, path: str):
        """Routes with an id in the path: subclasses override."""
        return None


class Request:
    def __init__(self, method, path, query, headers, body, ip):
        self.method, self.path, self.query, self.headers, self.body, self.ip = method, path, query, headers, body, ip

    def bearer(self):
        value = self.headers.get("Authorization") or ""
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def ok(body=None, status=200, headers=None):
    return status, body, headers or {}
