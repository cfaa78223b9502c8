"""WaniKani, from `shared/seeds/003_…` (a forum thread; see docs/connectors.md, WaniKani).

Several personal access tokens per user, made in the web settings (here: `mint`), each with a
name, permissions (reads always; writes only when given) and an optional expiry. What the thread
leaves out is Keyhaven's assumption: `GET /v2/user` with `Authorization: Bearer TOKEN` checks a
token; an expired or deleted token is 401; a write without its permission is 403.
"""

from base import Answer, Fake, digest, new_secret, ok


class WaniKani(Fake):
    name = "wanikani"

    def __init__(self):
        super().__init__()
        self.tokens = {}  # hash -> {"user", "name", "permissions", "expires_at"}

    # -- control (the web settings) --------------------------------------------------------
    def mint(self, user, name, permissions=(), expires_at=None):
        with self.lock:
            secret = new_secret("", 36)
            self.tokens[digest(secret)] = {"user": user, "name": name, "permissions": set(permissions), "expires_at": expires_at}
            return secret

    def delete(self, secret):
        with self.lock:
            self.tokens.pop(digest(secret), None)

    def control_mint(self, user, name, permissions=(), expires_at=None):
        return {"secret": self.mint(user, name, permissions, expires_at)}

    def control_delete(self, secret):
        self.delete(secret)
        return {}

    # -- routes -----------------------------------------------------------------------------
    def routes(self):
        return {("GET", "/v2/user"): self.user, ("PUT", "/v2/user"): self.update_user}

    def _token(self, request):
        token = self.tokens.get(digest(request.bearer() or ""))
        if token is None or (token["expires_at"] is not None and token["expires_at"] <= self.now):
            raise Answer(401, {"error": "Unauthorized. Nice try.", "code": 401})
        return token

    def user(self, request):
        token = self._token(request)
        return ok({"object": "user", "data": {"username": token["user"]}})

    def update_user(self, request):
        token = self._token(request)
        if "user:update" not in token["permissions"]:
            raise Answer(403, {"error": "This token lacks the permission user:update.", "code": 403})
        return ok({"object": "user", "data": {"username": token["user"]}})
