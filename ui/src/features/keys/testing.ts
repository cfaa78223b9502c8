// Test helpers shared by the keys feature's tests (not bundled: only tests import this file).
import type { KeyMeta, KeyStatus, KeyView } from "../../ipc";

export function meta(over: Partial<KeyMeta> = {}): KeyMeta {
  return {
    id: "key_1",
    tenant_id: "t1",
    name: "deploy bot",
    prefix: "kh_live_TEST",
    scopes: ["read"],
    status: "active",
    created_at: "2026-01-01T00:00:00Z",
    last_used_at: null,
    expires_at: null,
    revoked_at: null,
    allowed_origins: [],
    allowed_ips: [],
    rate_limit_per_hour: null,
    created_by: "u1",
    replaced_by: null,
    replaces: null,
    ...over,
  };
}

const STATUSES: KeyStatus[] = ["active", "active", "active", "expiring", "revoked", "expired"];
const SCOPES = [["read"], ["read", "write"], ["search"], ["read", "search"], ["write"]];

/** `n` keys with names `key 00000`…, varied statuses, scopes, times and limits, in a fixed order. */
export function manyKeys(n: number): KeyView[] {
  const base = Date.parse("2026-01-01T00:00:00Z");
  return Array.from({ length: n }, (_, i) => {
    const id = String(i).padStart(5, "0");
    return {
      meta: meta({
        id: `key_${id}`,
        name: `key ${id}`,
        prefix: `kh_live_${id.slice(-4)}`,
        scopes: SCOPES[i % SCOPES.length],
        status: STATUSES[i % STATUSES.length],
        created_at: new Date(base + i * 60_000).toISOString(),
        last_used_at: i % 3 === 0 ? null : new Date(base + ((i * 7919) % n) * 60_000).toISOString(),
        expires_at: i % 4 === 0 ? new Date(base + 400 * 86_400_000 + i * 1000).toISOString() : null,
        rate_limit_per_hour: i % 5 === 0 ? null : ((i * 37) % 1000) + 1,
      }),
      stored_locally: i % 2 === 0,
    };
  });
}
