"""AniKura, from `shared/seeds/000_…` (see docs/connectors.md, AniKura).

One GraphQL endpoint, `POST /graphql`, with `X-API-Key: ak_live_…`. Keys are made and deleted
in the dashboard (here: `mint`, `delete`), at most 5 active per account; a deleted key stops at
once. Tiers: Free 2,000 requests a day and 1 every 2 seconds; Indie and Commercial unlimited a
day and 1 a second. Every answer to a known key carries `X-RateLimit-Remaining` (left today, for
a capped tier) and `X-RateLimit-Reset` (seconds to midnight UTC).
"""

from base import Answer, Fake, digest, new_secret, ok

MAX_KEYS = 5
TIERS = {"free": (2000, 2.0), "indie": (None, 1.0), "commercial": (None, 1.0)}
DAY = 86400


class AniKura(Fake):
    name = "anikura"

    def __init__(self):
        super().__init__()
        self.accounts = {}  # account -> {"tier", "cap", "used": {day: n}, "last": time}
        self.keys = {}  # hash -> account

    # -- control (the dashboard) -------------------------------------------------------------
    def mint(self, account, tier="free", cap=None):
        with self.lock:
            state = self.accounts.setdefault(account, {"tier": tier, "cap": cap or TIERS[tier][0], "used": {}, "last": None})
            if sum(1 for a in self.keys.values() if a == account) >= MAX_KEYS:
                raise ValueError("You can have up to 5 active API keys per account.")
            secret = new_secret("ak_live_")
            self.keys[digest(secret)] = account
            return secret

    def delete(self, secret):
        with self.lock:
            self.keys.pop(digest(secret), None)

    def control_mint(self, account, tier="free", cap=None):
        return {"secret": self.mint(account, tier, cap)}

    def control_delete(self, secret):
        self.delete(secret)
        return {}

    # -- routes ---------------------------------------------------------------------------
    def routes(self):
        return {("POST", "/graphql"): self.graphql}

    def graphql(self, request):
        account = self.keys.get(digest(request.headers.get("X-API-Key") or ""))
        if account is None:
            raise Answer(401, {"errors": [{"message": "Invalid API key."}]})
        state = self.accounts[account]
        day = int(self.now // DAY)
        reset = int((day + 1) * DAY - self.now)
        used = state["used"].get(day, 0)
        headers = {"X-RateLimit-Reset": reset}
        cap = state["cap"]
        if cap is not None:
            headers["X-RateLimit-Remaining"] = max(cap - used, 0)
        spacing = TIERS[state["tier"]][1]
        if cap is not None and used >= cap:
            raise Answer(429, {"errors": [{"message": "Daily cap reached."}]}, headers)
        if state["last"] is not None and self.now - state["last"] < spacing:
            raise Answer(429, {"errors": [{"message": "Too many requests."}]}, headers)
        state["last"] = self.now
        state["used"][day] = used + 1
        if cap is not None:
            headers["X-RateLimit-Remaining"] = cap - used - 1
        query = (request.body or {}).get("query") or ""
        if not query.strip():
            raise Answer(400, {"errors": [{"message": "A query is required."}]}, headers)
        return ok({"data": {"__typename": "Query"}}, headers=headers)
