import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { Account, KeyView } from "../../ipc";
import { newKeyPrefill, type NewKeyPrefill } from "../deeplink/parse";
import { KeysView } from "./KeysView";
import { ROW_HEIGHT } from "./KeyTable";
import { manyKeys } from "./testing";

const VIEWPORT_ROWS = 10;
const TOTAL = 10_000;

const account: Account = {
  id: "a1",
  label: "dev@acme.test @ local",
  service: { kind: "embedded" },
  email: "dev@acme.test",
  user_id: "u1",
  role: "owner",
  tenant_id: "t1",
  connector: "native",
  created_at: "2026-01-01T00:00:00Z",
  remember_password: true,
};

// jsdom lays nothing out: give the table's scroll box the height of ten rows.
const clientHeight = Object.getOwnPropertyDescriptor(HTMLElement.prototype, "clientHeight");
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, "clientHeight", {
    configurable: true,
    get(this: HTMLElement) {
      return this.classList.contains("table-scroll") ? VIEWPORT_ROWS * ROW_HEIGHT : 0;
    },
  });
});
afterAll(() => {
  if (clientHeight) Object.defineProperty(HTMLElement.prototype, "clientHeight", clientHeight);
});

let keys: KeyView[];
let client: QueryClient;
beforeEach(() => {
  keys = manyKeys(TOTAL);
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  mockIPC((cmd) => {
    if (cmd === "list_keys") return keys;
    throw new Error(`unexpected command ${cmd}`);
  });
});
afterEach(() => {
  cleanup();
  clearMocks();
});

function show(props: Partial<Parameters<typeof KeysView>[0]> = {}) {
  return render(
    <QueryClientProvider client={client}>
      <KeysView account={account} scopes={["read", "write", "search"]} clipboardSeconds={30} {...props} />
    </QueryClientProvider>,
  );
}

/** The key rows in the DOM (not the header, not the spacers). */
function bodyRows(): HTMLElement[] {
  const table = screen.getByRole("table", { name: "Keys" });
  return within(table)
    .getAllByRole("row")
    .filter((r) => r.hasAttribute("data-key-id"));
}
const names = () => bodyRows().map((r) => r.querySelector("td")?.textContent);

describe("KeysView with 10,000 keys", () => {
  it("is a table that says how many rows it has and draws only a window of them", async () => {
    show();
    const table = await screen.findByRole("table", { name: "Keys" });
    expect(table.getAttribute("aria-rowcount")).toBe(String(TOTAL + 1));
    expect(screen.getAllByRole("columnheader").map((h) => h.textContent?.replace(/[▲▼↕]/g, ""))).toEqual([
      "Name",
      "Prefix",
      "Scopes",
      "Status",
      "Last used",
      "Expires",
      "Hourly limit",
      "Actions",
    ]);
    const rows = bodyRows();
    expect(rows.length).toBeGreaterThanOrEqual(VIEWPORT_ROWS);
    expect(rows.length).toBeLessThan(40);
    expect(rows[0].getAttribute("aria-rowindex")).toBe("2");
    expect(within(rows[0]).getAllByRole("cell")).toHaveLength(8);
    expect(screen.getByRole("status", { name: "" }).textContent).toBe("10,000 keys");

    // Scrolled to the middle, it draws the rows there, and still only a window of them.
    const scroller = screen.getByRole("region", { name: "Key list" });
    await act(async () => {
      scroller.scrollTop = 5_000 * ROW_HEIGHT;
      fireEvent.scroll(scroller);
    });
    await waitFor(() => {
      const indexes = bodyRows().map((r) => Number(r.getAttribute("aria-rowindex")));
      expect(indexes).toContain(5_002);
      expect(Math.min(...indexes)).toBeGreaterThan(4_950);
    });
    expect(bodyRows().length).toBeLessThan(40);
    // The spacer rows keep the scroll height of all 10,000 rows.
    const spacers = table.querySelectorAll<HTMLElement>("tr.spacer td");
    const spacerHeight = [...spacers].reduce((sum, td) => sum + parseFloat(td.style.height), 0);
    expect(spacerHeight + bodyRows().length * ROW_HEIGHT).toBe(TOTAL * ROW_HEIGHT);
  });

  it("sorts by a column when its header is pressed, ascending then descending", async () => {
    show();
    await screen.findByRole("table", { name: "Keys" });
    const header = screen.getByRole("columnheader", { name: /Name/ });
    expect(header.getAttribute("aria-sort")).toBe("none");
    fireEvent.click(within(header).getByRole("button"));
    expect(header.getAttribute("aria-sort")).toBe("ascending");
    expect(names().slice(0, 3)).toEqual(["key 00000", "key 00001", "key 00002"]);
    fireEvent.click(within(header).getByRole("button"));
    expect(header.getAttribute("aria-sort")).toBe("descending");
    expect(names().slice(0, 3)).toEqual(["key 09999", "key 09998", "key 09997"]);

    const limit = screen.getByRole("columnheader", { name: /Hourly limit/ });
    fireEvent.click(within(limit).getByRole("button"));
    expect(header.getAttribute("aria-sort")).toBe("none");
    const firstLimit = bodyRows()[0].querySelectorAll("td")[6].textContent;
    const lowest = Math.min(...keys.flatMap((k) => (k.meta.rate_limit_per_hour === null ? [] : [k.meta.rate_limit_per_hour])));
    expect(firstLimit).toBe(`${lowest} / h`);
  });

  it("filters by name, prefix, scope and status", async () => {
    show();
    await screen.findByRole("table", { name: "Keys" });
    const filter = screen.getByRole("searchbox", { name: "Filter keys" });
    fireEvent.change(filter, { target: { value: "name:0999" } });
    await waitFor(() => expect(bodyRows()).toHaveLength(11));
    expect(screen.getByText("11 of 10,000")).toBeTruthy();

    fireEvent.change(filter, { target: { value: "prefix:kh_live_9999" } });
    await waitFor(() => expect(names()).toEqual(["key 09999"]));

    fireEvent.change(filter, { target: { value: "scope:write status:revoked" } });
    await waitFor(() => {
      const rows = bodyRows();
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.getAttribute("data-status")).toBe("revoked");
        expect(r.textContent).toMatch(/write/);
      }
    });

    fireEvent.change(filter, { target: { value: "" } });
    fireEvent.change(screen.getByRole("combobox", { name: "Show status" }), { target: { value: "expiring" } });
    await waitFor(() => {
      const statuses = new Set(bodyRows().map((r) => r.getAttribute("data-status")));
      expect([...statuses]).toEqual(["expiring"]);
    });
    const expiring = keys.filter((k) => k.meta.status === "expiring").length;
    expect(screen.getByText(`${expiring.toLocaleString("en")} of 10,000`)).toBeTruthy();

    fireEvent.change(filter, { target: { value: "nothing-like-this" } });
    expect(await screen.findByText("No key matches “nothing-like-this”.")).toBeTruthy();
  });

  it("rewrites the drawn rows in place as the filter changes, each showing only its own key", async () => {
    show();
    await screen.findByRole("table", { name: "Keys" });
    // By name, so that the drawn rows mix statuses and keys stored here or not.
    fireEvent.click(within(screen.getByRole("columnheader", { name: /Name/ })).getByRole("button"));
    const before = bodyRows();
    const firstId = before[0].getAttribute("data-key-id");
    fireEvent.change(screen.getByRole("searchbox", { name: "Filter keys" }), { target: { value: "scope:write" } });
    await waitFor(() => expect(bodyRows()[0].getAttribute("data-key-id")).not.toBe(firstId));
    const after = bodyRows();
    // The same row elements, now holding other keys (cheaper than building new rows).
    expect(after[0]).toBe(before[0]);
    const byId = new Map(keys.map((k) => [k.meta.id, k]));
    const seen = { copy: 0, noCopy: 0, revoke: 0, noRevoke: 0 };
    for (const row of after) {
      const k = byId.get(row.getAttribute("data-key-id") ?? "");
      if (!k) throw new Error(`a row shows an unknown key ${row.getAttribute("data-key-id")}`);
      const cells = row.querySelectorAll("td");
      expect(cells[0].textContent).toBe(k.meta.name);
      expect(cells[1].textContent).toBe(`${k.meta.prefix}…`);
      expect(cells[2].textContent).toBe(k.meta.scopes.join(""));
      expect(cells[3].textContent).toBe(k.meta.status);
      expect(row.getAttribute("data-status")).toBe(k.meta.status);
      const live = k.meta.status !== "revoked" && k.meta.status !== "expired";
      const copy = within(row).queryByRole("button", { name: `Copy ${k.meta.name}` }) !== null;
      const revoke = within(row).queryByRole("button", { name: `Revoke ${k.meta.name}` }) !== null;
      expect(copy).toBe(k.stored_locally && live);
      expect(revoke).toBe(live);
      expect(row.textContent?.includes("not stored")).toBe(!k.stored_locally && live);
      // Nothing left over from the key the row showed before.
      for (const b of within(row).queryAllByRole("button")) {
        expect(b.getAttribute("aria-label") ?? b.textContent).toMatch(new RegExp(`${k.meta.name}$`));
      }
      seen[copy ? "copy" : "noCopy"] += 1;
      seen[revoke ? "revoke" : "noRevoke"] += 1;
    }
    // The window held rows of each kind, so each check above was made both ways.
    expect(Object.values(seen).every((n) => n > 0)).toBe(true);
  });

  it("focuses the filter on /, opens New key on Ctrl+N and Cmd+N, and closes it on Esc", async () => {
    show();
    await screen.findByRole("table", { name: "Keys" });
    const filter = screen.getByRole("searchbox", { name: "Filter keys" });
    fireEvent.keyDown(document.body, { key: "/" });
    expect(document.activeElement).toBe(filter);

    fireEvent.keyDown(filter, { key: "n", ctrlKey: true });
    const dialog = await screen.findByRole("dialog", { name: "New key" });
    expect(document.activeElement).toBe(within(dialog).getByLabelText("Name"));
    // "/" typed in the dialog stays there.
    fireEvent.keyDown(within(dialog).getByLabelText("Name"), { key: "/" });
    expect(document.activeElement).toBe(within(dialog).getByLabelText("Name"));
    fireEvent.keyDown(document.activeElement ?? document.body, { key: "Escape" });
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());

    fireEvent.keyDown(document.body, { key: "n", metaKey: true });
    expect(await screen.findByRole("dialog", { name: "New key" })).toBeTruthy();
  });

  it("gives every control an accessible name", async () => {
    show();
    await screen.findByRole("table", { name: "Keys" });
    for (const el of document.querySelectorAll<HTMLElement>("button, input, select, [role=region]")) {
      const name =
        el.getAttribute("aria-label") ??
        (el.getAttribute("aria-labelledby") ? document.getElementById(el.getAttribute("aria-labelledby") ?? "")?.textContent : null) ??
        el.textContent?.trim();
      expect(name, el.outerHTML.slice(0, 80)).toBeTruthy();
    }
  });
});

describe("KeysView and keyhaven:// links", () => {
  it("opens New key prefilled from a link, once", async () => {
    keys = [];
    let taken = 0;
    const prefill: NewKeyPrefill = newKeyPrefill({ name: "ci bot", scopes: ["write"] });
    show({ linkRequest: prefill, onLinkTaken: () => taken++ });
    const dialog = await screen.findByRole("dialog", { name: "New key" });
    expect((within(dialog).getByLabelText("Name") as HTMLInputElement).value).toBe("ci bot");
    expect((within(dialog).getByLabelText("write") as HTMLInputElement).checked).toBe(true);
    expect((within(dialog).getByLabelText("read") as HTMLInputElement).checked).toBe(false);
    expect(taken).toBe(1);
  });

  it("tells a read-only account that it cannot create the key", async () => {
    keys = [];
    let taken = 0;
    render(
      <QueryClientProvider client={client}>
        <KeysView
          account={{ ...account, role: "support" }}
          scopes={["read"]}
          clipboardSeconds={30}
          linkRequest={newKeyPrefill({ name: "x" })}
          onLinkTaken={() => taken++}
        />
      </QueryClientProvider>,
    );
    expect(await screen.findByText(/this account is read-only/)).toBeTruthy();
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(screen.queryByRole("button", { name: "New key" })).toBeNull();
    fireEvent.keyDown(document.body, { key: "n", ctrlKey: true });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(taken).toBe(1);
  });
});

describe("rotated keys in the list", () => {
  it("name each other by prefix: the old key its replacement, the new key the one it replaces", async () => {
    const [old, fresh, other] = manyKeys(3);
    old.meta = { ...old.meta, name: "deploy", prefix: "kh_live_OLD1", status: "expiring", replaced_by: fresh.meta.id };
    fresh.meta = { ...fresh.meta, name: "deploy", prefix: "kh_live_NEW1", status: "active", replaces: old.meta.id };
    keys = [old, fresh, other];
    show();
    await waitFor(() => expect(bodyRows()).toHaveLength(3));
    const relation = (id: string) => bodyRows().find((r) => r.getAttribute("data-key-id") === id)?.querySelector(".relation")?.textContent;
    expect(relation(old.meta.id)).toBe("replaced by kh_live_NEW1…");
    expect(relation(fresh.meta.id)).toBe("replaces kh_live_OLD1…");
    expect(relation(other.meta.id)).toBeUndefined();
  });
});
