"""Animus, from `shared/seeds/001_…` (see docs/connectors.md, Animus).

Keys `anm_…` are made in the Animus app (here: `mint`) with scopes `read`, `write`, `search`,
at most 10 active per account, and sent as `Authorization: Bearer anm_…`; a call without the
scope it needs is 403. Keys are managed with the session JWT at `/api/v1/api-keys`: list,
update name and scopes without a new secret, revoke; an API key cannot manage keys.
"""

import re

from base import Answer, Fake, digest, new_secret, ok

MAX_KEYS = 10
SCOPES = {"read", "write", "search"}
NEEDS = {("GET", "/api/v1/content/recent"): "read", ("GET", "/api/v1/search"): "search", ("POST", "/api/v1/content"): "write"}
KEY_PATH = re.compile(r"^/api/v1/api-keys/([A-Za-z0-9_-]+)$")


class Animus(Fake):
    name = "animus"

    def __init__(self):
        super().__init__()
        self.jwts = {}  # token -> account
        self.keys = {}  # id -> {"account", "name", "scopes", "hash", "created_at"}
        self.next_id = 1

    # -- control (the app) -----------------------------------------------------------------
    def session(self, account):
        with self.lock:
            token = "eyJ" + new_secret("", 40)
            self.jwts[token] = account
            return token

    def mint(self, account, name, scopes):
        with self.lock:
            if sum(1 for k in self.keys.values() if k["account"] == account) >= MAX_KEYS:
                raise ValueError("You can have up to 10 active API keys per account.")
            secret = new_secret("anm_")
            key_id = f"key_{self.next_id}"
            self.next_id += 1
            self.keys[key_id] = {"account": account, "name": name, "scopes": sorted(scopes), "hash": digest(secret), "created_at": self.now}
            return key_id, secret

    def control_session(self, account):
        return {"jwt": self.session(account)}

    def control_mint(self, account, name, scopes):
        key_id, secret = self.mint(account, name, scopes)
        return {"id": key_id, "secret": secret}

    # -- helpers ----------------------------------------------------------------------------
    def _jwt_account(self, request):
        token = request.bearer() or ""
        if token.startswith("anm_"):
            raise Answer(403, {"error": "API keys cannot manage other API keys."})
        account = self.jwts.get(token)
        if account is None:
            raise Answer(401, {"error": "A session token is required."})
        return account

    def _meta(self, key_id):
        k = self.keys[key_id]
        return {"id": key_id, "name": k["name"], "scopes": k["scopes"], "created_at": k["created_at"]}

    # -- routes -----------------------------------------------------------------------------
    def routes(self):
        uses = {route: self.use for route in NEEDS}
        return {**uses, ("GET", "/api/v1/api-keys"): self.list}

    def match(self, method, path):
        m = KEY_PATH.match(path)
        if m and method in ("DELETE", "PATCH"):
            return lambda request: self.one(request, m.group(1))
        return None

    def use(self, request):
        token = request.bearer() or ""
        key = next((k for k in self.keys.values() if k["hash"] == digest(token)), None)
        if key is None:
            raise Answer(401, {"error": "Invalid API key."})
        needed = NEEDS[(request.method, request.path)]
        if needed not in key["scopes"]:
            raise Answer(403, {"error": f"This key lacks the `{needed}` scope."})
        return ok({"items": []})

    def list(self, request):
        account = self._jwt_account(request)
        return ok([self._meta(i) for i, k in self.keys.items() if k["account"] == account])

    def one(self, request, key_id):
        account = self._jwt_account(request)
        key = self.keys.get(key_id)
        if key is None or key["account"] != account:
            raise Answer(404, {"error": "Not found."})
        if request.method == "DELETE":
            del self.keys[key_id]
            return ok(None, status=204)
        body = request.body or {}
        if "scopes" in body:
            scopes = body["scopes"]
            if not isinstance(scopes, list) or not scopes or not set(scopes) <= SCOPES:
                raise Answer(422, {"error": "scopes must be some of read, write, search."})
            key["scopes"] = sorted(set(scopes))
        if "name" in body:
            key["name"] = body["name"]
        return ok(self._meta(key_id))
