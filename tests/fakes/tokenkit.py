"""TokenKit, from `shared/seeds/004_…` (see docs/connectors.md, TokenKit).

Login with username or email and password gives a session token; mutating calls carry both the
session (`Authorization: Bearer`) and an `api-key`; keys are created with `allowed_origins`,
`allowed_ips`, `rate_limit_per_hour` (or the legacy `domain`), listed without their values and
deleted by numeric id. A call with a key is checked as the document's table says: with an
`Origin` or `X-Origin` header against `allowed_origins`, without one the source IP against
`allowed_ips` (an empty list passes), and at most `rate_limit_per_hour` successful calls an
hour. A refusal is 403 and counts against the source IP; ten in five minutes block that IP
from key attempts for the rest of the window.
"""

from datetime import datetime, timezone

from base import Answer, Fake, digest, new_secret, ok

WINDOW = 300  # five minutes
BLOCK_AFTER = 10


class TokenKit(Fake):
    name = "tokenkit"

    def __init__(self):
        super().__init__()
        self.users = {}  # username -> password
        self.sessions = {}  # token -> username
        self.keys = {}  # id -> key record (hash, never the value)
        self.next_id = 100
        self.failures = {}  # ip -> [times]
        self.calls = {}  # (key id, hour) -> successful calls

    # -- control --------------------------------------------------------------------------
    def add_user(self, username, password):
        self.users[username] = password

    def mint(self, username, name="dashboard key", **settings):
        """A key made in the dashboard (Settings -> API Keys -> Generate Key)."""
        with self.lock:
            return self._create(username, {"name": name, **settings})[1]

    def control_add_user(self, username, password):
        self.add_user(username, password)
        return {}

    def control_mint(self, username, name="dashboard key", **settings):
        return {"key": self.mint(username, name, **settings)}

    def control_key(self, key_id):
        """What the fake holds about a key (never its value), to check what a client sent."""
        key = self.keys.get(int(key_id))
        if key is None:
            return {"found": False}
        return {"found": True, **{k: key[k] for k in ("name", "allowed_origins", "allowed_ips", "rate_limit_per_hour")}}

    # -- helpers ----------------------------------------------------------------------------
    def _session_user(self, request):
        user = self.sessions.get(request.bearer() or "")
        if user is None:
            raise Answer(401, {"detail": "Authentication credentials were not provided."})
        return user

    def _key_of(self, request):
        value = request.headers.get("api-key")
        if not value:
            return None
        return next((k for k in self.keys.values() if k["hash"] == digest(value)), None)

    def _create(self, user, body):
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise Answer(400, {"name": ["This field is required."]})
        origins = body.get("allowed_origins") or []
        if body.get("domain"):
            origins = origins + [body["domain"]]
        secret = new_secret("tk_")
        key = {
            "id": self.next_id,
            "owner": user,
            "name": body["name"],
            "hash": digest(secret),
            "allowed_origins": origins,
            "allowed_ips": body.get("allowed_ips") or [],
            "rate_limit_per_hour": body.get("rate_limit_per_hour"),
            "created_at": self.now,
            "last_used_at": None,
        }
        self.next_id += 1
        self.keys[key["id"]] = key
        return key, secret

    def _blocked(self, ip):
        times = [t for t in self.failures.get(ip, []) if t > self.now - WINDOW]
        self.failures[ip] = times
        return len(times) >= BLOCK_AFTER

    def _fail(self, ip, status, why):
        self.failures.setdefault(ip, []).append(self.now)
        raise Answer(status, {"detail": why})

    def _use_key(self, request):
        """The document's enforcement, for a call that needs a key."""
        if self._blocked(request.ip):
            raise Answer(403, {"detail": "Too many failed attempts from this IP."})
        key = self._key_of(request)
        if key is None:
            self._fail(request.ip, 401, "Invalid API key.")
        origin = request.headers.get("Origin") or request.headers.get("X-Origin")
        if origin is not None:
            if key["allowed_origins"] and not any(
                origin == o or origin.endswith("//" + o) for o in key["allowed_origins"]
            ):
                self._fail(request.ip, 403, "Origin not allowed for this key.")
        elif key["allowed_ips"] and request.ip not in key["allowed_ips"]:
            self._fail(request.ip, 403, "IP not allowed for this key.")
        hour = int(self.now // 3600)
        used = self.calls.get((key["id"], hour), 0)
        if key["rate_limit_per_hour"] is not None and used >= key["rate_limit_per_hour"]:
            raise Answer(429, {"detail": "Hourly limit reached for this key."})
        self.calls[(key["id"], hour)] = used + 1
        key["last_used_at"] = self.now
        return key

    @staticmethod
    def _meta(key):
        """Times as RFC 3339 strings (assumed: the document names the fields, not their form)."""
        def stamp(t):
            return None if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        return {"id": key["id"], "name": key["name"], "created_at": stamp(key["created_at"]), "last_used_at": stamp(key["last_used_at"])}

    # -- routes -------------------------------------------------------------------------------
    def routes(self):
        return {
            ("POST", "/api/users/auth/login/"): self.login,
            ("POST", "/api/users/auth/create-api-key/"): self.create,
            ("GET", "/api/users/auth/api-keys/"): self.list,
            ("POST", "/api/users/auth/api-keys/delete/"): self.delete,
            ("GET", "/api/tokens/"): self.tokens,
        }

    def login(self, request):
        body = request.body or {}
        user, password = body.get("username"), body.get("password")
        if user not in self.users or self.users[user] != password:
            raise Answer(401, {"detail": "Unable to log in with provided credentials."})
        token = new_secret("", 40)
        self.sessions[token] = user
        return ok({"token": token})

    def create(self, request):
        user = self._session_user(request)
        self._use_key(request)
        key, secret = self._create(user, request.body)
        return ok({"id": key["id"], "name": key["name"], "key": secret}, status=201)

    def list(self, request):
        user = self._session_user(request)
        return ok([self._meta(k) for k in self.keys.values() if k["owner"] == user])

    def delete(self, request):
        user = self._session_user(request)
        self._use_key(request)
        key_id = (request.body or {}).get("key_id")
        key = self.keys.get(key_id)
        if key is None or key["owner"] != user:
            raise Answer(404, {"detail": "Not found."})
        del self.keys[key_id]
        return ok(None, status=204)

    def tokens(self, request):
        self._use_key(request)
        return ok({"results": [{"symbol": "BTC"}, {"symbol": "ETH"}]})
