"""Ananke Labs, from `shared/seeds/002_…` (see docs/connectors.md, Ananke Labs).

Keys are made in the Console (here: `mint`), shown once, stored as a hash, scoped to one tenant;
a tenant may hold several at once. Every call sends `x-api-key`. 401 `UNAUTHORIZED`: the key is
missing, malformed or invalid. 403 `FORBIDDEN`: the key is valid but its tenant's quota is
exhausted or the tenant is suspended.
"""

from base import Answer, Fake, digest, new_secret, ok


class Ananke(Fake):
    name = "ananke"

    def __init__(self):
        super().__init__()
        self.keys = {}  # hash -> tenant
        self.tenants = {}  # tenant -> {"quota": calls left or None, "suspended": bool}

    # -- control (the Console) ------------------------------------------------------------
    def mint(self, tenant, quota=None):
        with self.lock:
            self.tenants.setdefault(tenant, {"quota": quota, "suspended": False})
            secret = new_secret("ak_live_")
            self.keys[digest(secret)] = tenant
            return secret

    def revoke(self, secret):
        with self.lock:
            self.keys.pop(digest(secret), None)

    def set_tenant(self, tenant, **change):
        with self.lock:
            self.tenants[tenant].update(change)

    def control_mint(self, tenant, quota=None):
        return {"secret": self.mint(tenant, quota)}

    def control_revoke(self, secret):
        self.revoke(secret)
        return {}

    def control_set_tenant(self, tenant, **change):
        self.set_tenant(tenant, **change)
        return {}

    # -- routes ---------------------------------------------------------------------------
    def routes(self):
        return {("GET", "/v1/trust/templates"): self.templates}

    def templates(self, request):
        value = request.headers.get("x-api-key") or ""
        tenant = self.keys.get(digest(value)) if value.startswith("ak_") else None
        if tenant is None:
            raise Answer(401, {"code": "UNAUTHORIZED", "message": "Missing, malformed, or invalid API key."})
        state = self.tenants[tenant]
        if state["suspended"] or state["quota"] == 0:
            raise Answer(403, {"code": "FORBIDDEN", "message": "The tenant's quota is exhausted or the tenant is suspended."})
        if state["quota"] is not None:
            state["quota"] -= 1
        return ok({"templates": [{"id": "tpl_1", "tenant": tenant}]})
