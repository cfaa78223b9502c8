import { describe, expect, it, vi } from "vitest";
import type { KeyView } from "../../ipc";
import { KeyFilter, filterKeys, nextSort, parseFilter, sortKeys, type StatusFilter } from "./table";
import { manyKeys, meta } from "./testing";

const keys: KeyView[] = [
  { meta: meta({ id: "1", name: "old", status: "revoked", created_at: "2026-01-03T00:00:00Z" }), stored_locally: false },
  {
    meta: meta({ id: "2", name: "ci", scopes: ["search"], created_at: "2026-01-01T00:00:00Z", rate_limit_per_hour: 500 }),
    stored_locally: true,
  },
  {
    meta: meta({
      id: "3",
      name: "web",
      prefix: "kh_live_WXYZ",
      scopes: ["read", "write"],
      created_at: "2026-01-02T00:00:00Z",
      last_used_at: "2026-02-01T00:00:00Z",
      expires_at: "2027-01-01T00:00:00Z",
      rate_limit_per_hour: 20,
    }),
    stored_locally: true,
  },
  {
    meta: meta({ id: "4", name: "Key 10", status: "expiring", last_used_at: "2026-03-01T00:00:00Z", expires_at: "2026-06-01T00:00:00Z" }),
    stored_locally: false,
  },
  { meta: meta({ id: "5", name: "key 9", prefix: "kh_test_ABCD" }), stored_locally: false },
];
const ids = (list: KeyView[]) => list.map((k) => k.meta.id);

describe("filterKeys", () => {
  it("matches name, prefix, scope and status, ignoring case", () => {
    expect(ids(filterKeys(keys, "CI"))).toEqual(["2"]);
    expect(ids(filterKeys(keys, "wxyz"))).toEqual(["3"]);
    expect(ids(filterKeys(keys, "search"))).toEqual(["2"]);
    expect(ids(filterKeys(keys, "revoked"))).toEqual(["1"]);
    expect(filterKeys(keys, "  ")).toHaveLength(keys.length);
  });

  it("limits a term to one field with name:, prefix:, scope: and status:", () => {
    expect(ids(filterKeys(keys, "scope:write"))).toEqual(["3"]);
    expect(ids(filterKeys(keys, "status:exp"))).toEqual(["4"]);
    expect(ids(filterKeys(keys, "prefix:kh_test"))).toEqual(["5"]);
    // "live" is in four prefixes and no name.
    expect(ids(filterKeys(keys, "live"))).toEqual(["1", "2", "3", "4"]);
    expect(filterKeys(keys, "name:live")).toEqual([]);
    expect(ids(filterKeys(keys, "name:key"))).toEqual(["4", "5"]);
    expect(ids(filterKeys(keys, 'name:"key 9"'))).toEqual(["5"]);
  });

  it("needs every term to match", () => {
    expect(ids(filterKeys(keys, "live status:active"))).toEqual(["2", "3"]);
    expect(ids(filterKeys(keys, "name:key status:active"))).toEqual(["5"]);
    expect(filterKeys(keys, "web scope:search")).toEqual([]);
  });

  it("keeps an unknown prefix as text", () => {
    expect(parseFilter("https://x foo:bar")).toEqual([
      { field: null, text: "https://x" },
      { field: null, text: "foo:bar" },
    ]);
  });

  it("never matches across two fields, even with their separator pasted in", () => {
    expect(parseFilter("read\u0000write")).toEqual([{ field: null, text: "readwrite" }]);
    expect(new KeyFilter().run(keys, "d\u0000w")).toEqual([]);
    expect(new KeyFilter().run(keys, "scope:d\u0000w")).toEqual([]);
    expect(ids(new KeyFilter().run(keys, "scope:d"))).toEqual(ids(filterKeys(keys, "scope:d")));
    expect(ids(filterKeys(keys, "scope:d"))).toContain("3");
  });

  it("narrows by the status menu as well", () => {
    expect(ids(filterKeys(keys, "", "revoked"))).toEqual(["1"]);
    expect(ids(filterKeys(keys, "k", "active"))).toEqual(["2", "3", "5"]);
  });
});

describe("sortKeys", () => {
  it("puts active keys first, newest first, by default", () => {
    expect(ids(sortKeys(keys))).toEqual(["3", "2", "5", "4", "1"]);
  });

  it("sorts names naturally and case-insensitively, both ways", () => {
    expect(ids(sortKeys(keys, { column: "name", direction: "asc" }))).toEqual(["2", "5", "4", "1", "3"]);
    expect(ids(sortKeys(keys, { column: "name", direction: "desc" }))).toEqual(["3", "1", "4", "5", "2"]);
  });

  it("sorts by prefix, scopes and status", () => {
    expect(ids(sortKeys(keys, { column: "prefix", direction: "asc" }))).toEqual(["2", "4", "1", "3", "5"]);
    expect(ids(sortKeys(keys, { column: "prefix", direction: "desc" }))[0]).toBe("5");
    expect(ids(sortKeys(keys, { column: "scopes", direction: "asc" }))).toEqual(["5", "4", "1", "3", "2"]);
    expect(ids(sortKeys(keys, { column: "status", direction: "asc" }))).toEqual(["2", "5", "3", "4", "1"]);
  });

  it("sorts times and limits with the missing ones last either way", () => {
    expect(ids(sortKeys(keys, { column: "last_used", direction: "desc" }))).toEqual(["4", "3", "2", "5", "1"]);
    expect(ids(sortKeys(keys, { column: "last_used", direction: "asc" }))).toEqual(["3", "4", "2", "5", "1"]);
    expect(ids(sortKeys(keys, { column: "expires", direction: "asc" })).slice(0, 2)).toEqual(["4", "3"]);
    expect(ids(sortKeys(keys, { column: "limit", direction: "asc" })).slice(0, 2)).toEqual(["3", "2"]);
    expect(ids(sortKeys(keys, { column: "limit", direction: "desc" })).slice(0, 2)).toEqual(["2", "3"]);
  });

  it("does not change the list it is given", () => {
    const before = ids(keys);
    sortKeys(keys, { column: "name", direction: "desc" });
    expect(ids(keys)).toEqual(before);
  });

  it("handles 10,000 keys", () => {
    const many = manyKeys(10_000);
    const sorted = sortKeys(many, { column: "name", direction: "desc" });
    expect(sorted[0].meta.name).toBe("key 09999");
    expect(sorted[9_999].meta.name).toBe("key 00000");
    expect(filterKeys(many, "status:revoked scope:write")).toHaveLength(many.filter((k) => k.meta.status === "revoked" && k.meta.scopes.includes("write")).length);
  });
});

/** The list, with a count of the keys read from it by index (what a pass over it does). */
function counted(list: KeyView[]) {
  const reads = { n: 0 };
  const proxy = new Proxy(list, {
    get(target, prop, receiver) {
      if (typeof prop === "string" && /^\d+$/.test(prop)) reads.n++;
      return Reflect.get(target, prop, receiver);
    },
  });
  return { proxy, reads };
}

describe("KeyFilter.prepare", () => {
  it("works through the list a slice per task and can be stopped; filtering gives the same keys", () => {
    vi.useFakeTimers();
    try {
      const many = manyKeys(2_500);
      const { proxy, reads } = counted(many);
      const expected = ids(filterKeys(many, "key 01"));
      const filter = new KeyFilter();
      const stop = filter.prepare(proxy);
      expect(vi.getTimerCount()).toBe(1);
      expect(reads.n).toBe(0); // nothing in the current task
      vi.advanceTimersToNextTimer();
      expect(reads.n).toBe(1_000);
      expect(vi.getTimerCount()).toBe(1); // 1,000 done, the next slice queued
      stop();
      expect(vi.getTimerCount()).toBe(0);
      // A keystroke before the work is done makes the rest itself.
      expect(ids(filter.run(proxy, "key 01"))).toEqual(expected);
      expect(reads.n).toBe(2_500 + expected.length);
      // Prepared to the end, a keystroke reads only the keys it shows.
      const other = new KeyFilter();
      other.prepare(proxy);
      vi.runAllTimers();
      reads.n = 0;
      expect(ids(other.run(proxy, "key 01"))).toEqual(expected);
      expect(reads.n).toBe(expected.length);
      // A list replaced before it is prepared is left alone.
      const third = new KeyFilter();
      third.prepare(proxy);
      third.run(many, "");
      reads.n = 0;
      vi.runAllTimers();
      expect(reads.n).toBe(0);
      expect(new KeyFilter().prepare([])).toBeTypeOf("function");
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("KeyFilter", () => {
  it("gives filterKeys' keys at every step of typing, deleting and changing the filter", () => {
    const many = manyKeys(3_000);
    const filter = new KeyFilter();
    const steps: [string, StatusFilter][] = [
      ["k", "all"],
      ["ke", "all"],
      ["key", "all"],
      ["key ", "all"],
      ["key 0", "all"],
      ["key 01", "all"],
      ["key 012", "all"],
      ["key 01", "all"],
      ["key 0", "all"],
      ["key 0", "revoked"],
      ["key 01", "revoked"],
      ["key 01 scope:w", "revoked"],
      ["key 01 scope:wr", "revoked"],
      ["key 01 scope:wr", "all"],
      ["key 01 status:r", "all"],
      ["key 01 status:re", "all"],
      ["key 01 status:e", "all"], // not a narrowing of status:re
      ["name:key", "all"],
      ['name:"key 00', "all"],
      ['name:"key 001"', "all"],
      ["01", "all"], // a shorter, different term
      ["", "all"],
      ["x", "all"],
    ];
    for (const [text, status] of steps) {
      expect(ids(filter.run(many, text, status)), `${text} / ${status}`).toEqual(ids(filterKeys(many, text, status)));
    }
  });

  it("narrows the last result when a letter is added and keeps earlier results for Backspace", () => {
    const { proxy, reads } = counted(manyKeys(2_000));
    const filter = new KeyFilter();
    const first = filter.run(proxy, "key 01");
    expect(reads.n).toBeGreaterThanOrEqual(2_000);
    reads.n = 0;
    const narrower = filter.run(proxy, "key 012");
    expect(reads.n).toBe(narrower.length); // from the last result: only the keys shown are read
    expect(ids(narrower)).toEqual(ids(filterKeys(proxy, "key 012")));
    reads.n = 0;
    expect(filter.run(proxy, "key 01")).toBe(first);
    expect(reads.n).toBe(0);
    // A wider filter that was never shown goes through the whole list.
    filter.run(proxy, "key 0");
    expect(reads.n).toBeGreaterThanOrEqual(2_000);
  });

  it("starts afresh for another list", () => {
    const filter = new KeyFilter();
    const a = manyKeys(50);
    const b = manyKeys(80);
    expect(filter.run(a, "key")).toHaveLength(50);
    expect(filter.run(b, "key 0")).toHaveLength(80);
    expect(filter.run(b, "key")).toHaveLength(80);
    expect(filter.run(a, "key 00")).toHaveLength(50);
  });
});

describe("nextSort", () => {
  it("goes ascending, descending, then back to the default order", () => {
    const asc = nextSort(null, "name");
    expect(asc).toEqual({ column: "name", direction: "asc" });
    const desc = nextSort(asc, "name");
    expect(desc).toEqual({ column: "name", direction: "desc" });
    expect(nextSort(desc, "name")).toBeNull();
    expect(nextSort(desc, "status")).toEqual({ column: "status", direction: "asc" });
  });
});
