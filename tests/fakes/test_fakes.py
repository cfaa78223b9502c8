"""Each contract fake enforces what its seed document says (docs/connectors.md), over real HTTP
on 127.0.0.1. The connectors' tests run against these fakes; these tests keep the fakes honest."""

import http.client
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from anikura import AniKura  # noqa: E402
from ananke import Ananke  # noqa: E402
from animus import Animus  # noqa: E402
from tokenkit import TokenKit  # noqa: E402
from wanikani import WaniKani  # noqa: E402


class Client:
    def __init__(self, url):
        self.host, self.port = url.removeprefix("http://").split(":")

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            h = dict(headers or {})
            if data is not None:
                h["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), dict(r.getheaders())
        finally:
            conn.close()


@pytest.fixture
def serve():
    started = []

    def start(fake):
        started.append(fake)
        return fake, Client(fake.start())

    yield start
    for fake in started:
        fake.stop()


def test_tokenkit_login_create_list_delete(serve):
    tk, c = serve(TokenKit())
    tk.add_user("ann@example.com", "pw-1")
    assert c.call("POST", "/api/users/auth/login/", {"username": "ann@example.com", "password": "no"})[0] == 401
    status, body, _ = c.call("POST", "/api/users/auth/login/", {"username": "ann@example.com", "password": "pw-1"})
    assert status == 200
    session = {"Authorization": f"Bearer {body['token']}"}
    dashboard = tk.mint("ann@example.com")
    both = {**session, "api-key": dashboard}
    # Mutating calls need both the session and an api-key.
    assert c.call("POST", "/api/users/auth/create-api-key/", {"name": "x"}, session)[0] == 401
    assert c.call("POST", "/api/users/auth/create-api-key/", {"name": "x"}, {"api-key": dashboard})[0] == 401
    status, made, _ = c.call(
        "POST", "/api/users/auth/create-api-key/",
        {"name": "indexer-cron", "allowed_ips": ["127.0.0.1"], "rate_limit_per_hour": 2}, both,
    )
    assert status == 201 and made["key"].startswith("tk_") and isinstance(made["id"], int)
    status, listed, _ = c.call("GET", "/api/users/auth/api-keys/", headers=session)
    assert status == 200
    assert {k["name"] for k in listed} == {"dashboard key", "indexer-cron"}
    assert all(set(k) == {"id", "name", "created_at", "last_used_at"} for k in listed), "never the key"
    assert made["key"] not in json.dumps(listed)
    # The key works, then is deleted and gets 401.
    assert c.call("GET", "/api/tokens/?common=true", headers={"api-key": made["key"]})[0] == 200
    assert c.call("POST", "/api/users/auth/api-keys/delete/", {"key_id": made["id"]}, both)[0] == 204
    assert c.call("GET", "/api/tokens/?common=true", headers={"api-key": made["key"]})[0] == 401


def test_tokenkit_checks_origin_else_ip_and_the_hourly_limit(serve):
    tk, c = serve(TokenKit())
    tk.add_user("ann", "pw")
    web = tk.mint("ann", "web", allowed_origins=["https://app.example.io"])
    server = tk.mint("ann", "server", allowed_ips=["203.0.113.10"], rate_limit_per_hour=2)
    legacy = tk.mint("ann", "legacy", domain="example.io")
    tokens = "/api/tokens/?common=true"
    assert c.call("GET", tokens, headers={"api-key": web, "Origin": "https://app.example.io"})[0] == 200
    assert c.call("GET", tokens, headers={"api-key": web, "X-Origin": "https://evil.example"})[0] == 403
    # No origin header: the IP list decides (empty: pass); this client is 127.0.0.1.
    assert c.call("GET", tokens, headers={"api-key": web})[0] == 200
    assert c.call("GET", tokens, headers={"api-key": server})[0] == 403
    assert c.call("GET", tokens, headers={"api-key": legacy, "Origin": "https://example.io"})[0] == 200
    open_key = tk.mint("ann", "open", rate_limit_per_hour=2)
    assert [c.call("GET", tokens, headers={"api-key": open_key})[0] for _ in range(3)] == [200, 200, 429]
    tk.advance(3600)
    assert c.call("GET", tokens, headers={"api-key": open_key})[0] == 200


def test_tokenkit_blocks_an_ip_after_ten_failures_in_five_minutes(serve):
    tk, c = serve(TokenKit())
    tk.add_user("ann", "pw")
    good = tk.mint("ann")
    tokens = "/api/tokens/?common=true"
    # Two failures (done), then the window moves on past them: they no longer count.
    for _ in range(2):
        assert c.call("GET", tokens, headers={"api-key": "tk_wrong"})[0] == 401
    tk.advance(301)
    for _ in range(9):
        c.call("GET", tokens, headers={"api-key": "tk_wrong"})
    assert c.call("GET", tokens, headers={"api-key": good})[0] == 200, "nine in the window: not yet"
    c.call("GET", tokens, headers={"api-key": "tk_wrong"})
    assert c.call("GET", tokens, headers={"api-key": good})[0] == 403, "blocked for the rest of the window"
    tk.advance(301)
    assert c.call("GET", tokens, headers={"api-key": good})[0] == 200


def test_anikura_headers_daily_cap_rate_and_five_keys(serve):
    ak, c = serve(AniKura())
    key = ak.mint("ann", tier="free", cap=3)
    query = {"query": "{ __typename }"}
    status, _, headers = c.call("POST", "/graphql", query, {"X-API-Key": key})
    assert status == 200 and headers["X-RateLimit-Remaining"] == "2"
    assert 0 < int(headers["X-RateLimit-Reset"]) <= 86400
    # Free: one call every two seconds.
    assert c.call("POST", "/graphql", query, {"X-API-Key": key})[0] == 429
    for _ in range(2):
        ak.advance(2)
        assert c.call("POST", "/graphql", query, {"X-API-Key": key})[0] == 200
    ak.advance(2)
    status, _, headers = c.call("POST", "/graphql", query, {"X-API-Key": key})
    assert status == 429 and headers["X-RateLimit-Remaining"] == "0", "the daily cap"
    ak.advance(86400)
    assert c.call("POST", "/graphql", query, {"X-API-Key": key})[0] == 200, "a new day"
    assert c.call("POST", "/graphql", query, {"X-API-Key": "ak_live_" + "x" * 32})[0] == 401
    for _ in range(4):
        ak.mint("ann")
    with pytest.raises(ValueError):
        ak.mint("ann")
    ak.delete(key)
    assert c.call("POST", "/graphql", query, {"X-API-Key": key})[0] == 401, "deleted: refused at once"
    unlimited = ak.mint("bob", tier="indie")
    status, _, headers = c.call("POST", "/graphql", query, {"X-API-Key": unlimited})
    assert status == 200 and "X-RateLimit-Remaining" not in headers


def test_ananke_tells_a_broken_key_from_an_exhausted_tenant(serve):
    an, c = serve(Ananke())
    key = an.mint("acme", quota=1)
    second = an.mint("acme")
    path = "/v1/trust/templates"
    assert c.call("GET", path, headers={"x-api-key": key})[0] == 200
    status, body, _ = c.call("GET", path, headers={"x-api-key": second})
    assert (status, body["code"]) == (403, "FORBIDDEN"), "quota exhausted: the key is fine"
    an.set_tenant("acme", quota=None, suspended=True)
    assert c.call("GET", path, headers={"x-api-key": key})[1]["code"] == "FORBIDDEN"
    an.set_tenant("acme", suspended=False)
    assert c.call("GET", path, headers={"x-api-key": key})[0] == 200
    an.revoke(key)
    status, body, _ = c.call("GET", path, headers={"x-api-key": key})
    assert (status, body["code"]) == (401, "UNAUTHORIZED")
    assert c.call("GET", path, headers={"x-api-key": second})[0] == 200, "two keys alive: the other works"
    assert c.call("GET", path)[1]["code"] == "UNAUTHORIZED"


def test_animus_scopes_ten_keys_and_management_by_jwt_only(serve):
    am, c = serve(Animus())
    key_id, key = am.mint("ann", "cli", ["read"])
    jwt = {"Authorization": f"Bearer {am.session('ann')}"}
    assert c.call("GET", "/api/v1/content/recent", headers={"Authorization": f"Bearer {key}"})[0] == 200
    assert c.call("GET", "/api/v1/search", headers={"Authorization": f"Bearer {key}"})[0] == 403
    status, listed, _ = c.call("GET", "/api/v1/api-keys", headers=jwt)
    assert status == 200 and [k["id"] for k in listed] == [key_id]
    assert c.call("GET", "/api/v1/api-keys", headers={"Authorization": f"Bearer {key}"})[0] == 403
    status, meta, _ = c.call("PATCH", f"/api/v1/api-keys/{key_id}", {"name": "cli2", "scopes": ["read", "search"]}, jwt)
    assert status == 200 and meta["scopes"] == ["read", "search"] and meta["name"] == "cli2"
    assert c.call("GET", "/api/v1/search", headers={"Authorization": f"Bearer {key}"})[0] == 200, "same secret"
    assert c.call("PATCH", f"/api/v1/api-keys/{key_id}", {"scopes": ["admin"]}, jwt)[0] == 422
    assert c.call("DELETE", f"/api/v1/api-keys/{key_id}", headers=jwt)[0] == 204
    assert c.call("GET", "/api/v1/content/recent", headers={"Authorization": f"Bearer {key}"})[0] == 401
    for i in range(10):
        am.mint("ann", f"k{i}", ["read"])
    with pytest.raises(ValueError):
        am.mint("ann", "one too many", ["read"])


def test_wanikani_tokens_expire_and_writes_need_their_permission(serve):
    wk, c = serve(WaniKani())
    reader = wk.mint("koichi", "dashboard")
    writer = wk.mint("koichi", "scripts", permissions=["user:update"], expires_at=wk.now + 60)
    bearer = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    status, body, _ = c.call("GET", "/v2/user", headers=bearer(reader))
    assert status == 200 and body["data"]["username"] == "koichi"
    assert c.call("PUT", "/v2/user", {}, bearer(reader))[0] == 403, "reads only by default"
    assert c.call("PUT", "/v2/user", {}, bearer(writer))[0] == 200
    wk.advance(61)
    assert c.call("GET", "/v2/user", headers=bearer(writer))[0] == 401, "expired"
    wk.delete(reader)
    assert c.call("GET", "/v2/user", headers=bearer(reader))[0] == 401, "regenerated: the old one is refused"
