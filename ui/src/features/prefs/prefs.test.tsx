// The window remembers, per profile, what the person set: the keys table's sort and column
// widths, the tab, the account shown and the usage chart's granularity. The app is rendered as
// the window renders it, over a fake of the Rust side that keeps each profile's preferences.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { Account, AppStatus, Capabilities, UiPrefs } from "../../ipc";
import { App } from "../../App";
import { meta } from "../keys/testing";
import { KINDS } from "../kinds/testing";
import { DEFAULT_PREFS, cleanPrefs, clampWidth } from "./prefs";
import { SAVE_DELAY_MS } from "./usePrefs";

const LOCAL: Account = {
  id: "a1",
  label: "local",
  service: { kind: "embedded" },
  email: "ann@keyhaven.local",
  user_id: "u1",
  role: "owner",
  tenant_id: "t1",
  connector: "native",
  created_at: "2026-01-01T00:00:00Z",
  remember_password: true,
};
const REMOTE: Account = {
  ...LOCAL,
  id: "a2",
  label: "ann @ keys.example.com",
  email: "ann@example.com",
  service: { kind: "url", url: "https://keys.example.com", allow_http: false },
};

const CAPS = {
  login: true,
  list_keys: true,
  get_key: true,
  create_key: true,
  update_key: true,
  roll_key: true,
  max_roll_grace_seconds: 604800,
  revoke_key: true,
  ping: true,
  verify_key: true,
  key_settings: true,
  key_scopes: true,
  key_expiry: true,
  allowed_origins: true,
  allowed_ips: true,
  rate_limit_per_hour: true,
  key_usage: true,
  account_usage: true,
  denials: true,
  audit: true,
  support_search: false,
  tenant_reads: false,
  import_keys: true,
  local_keys: false,
  guided_rotation: false,
} satisfies Capabilities;

const KEYS = [
  meta({ id: "k1", name: "deploy bot", prefix: "kh_live_AbCd", rate_limit_per_hour: 10 }),
  meta({ id: "k2", name: "ci runner", prefix: "kh_live_EfGh", rate_limit_per_hour: 500 }),
];

/** The fake Rust side: each profile's accounts and kept preferences, and what was asked of it. */
type Profile = { accounts: Account[]; activeAccount: string; prefs: UiPrefs | null };
let profiles: Record<string, Profile>;
let activeProfile: string;
let saves: { profile: string; prefs: UiPrefs }[];
let loads: string[];
let selected: string[];
let usageAsked: string[];
let failLoad: boolean;
let failSave: boolean;

const prefs = (over: Partial<UiPrefs>): UiPrefs => ({ ...DEFAULT_PREFS, account_id: "a1", ...over });

function status(): AppStatus {
  const p = profiles[activeProfile];
  return {
    profile: activeProfile,
    accounts: p.accounts,
    active_account_id: p.activeAccount,
    local_service: { url: "http://127.0.0.1:1", error: null, preparing: false },
    scopes: ["read", "write", "search"],
    clipboard_clear_seconds: 30,
    startup_error: null,
  };
}

// jsdom lays nothing out: give the keys table's scroll box room for ten rows, so its rows are drawn.
const clientHeight = Object.getOwnPropertyDescriptor(HTMLElement.prototype, "clientHeight");
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, "clientHeight", {
    configurable: true,
    get(this: HTMLElement) {
      return this.classList.contains("table-scroll") ? 440 : 0;
    },
  });
  // jsdom has no PointerEvent: a mouse event with a pointer id carries the drag's coordinates.
  if (!("PointerEvent" in window)) {
    class PointerEvent extends MouseEvent {
      pointerId: number;
      constructor(type: string, init: PointerEventInit = {}) {
        super(type, init);
        this.pointerId = init.pointerId ?? 1;
      }
    }
    Object.defineProperty(window, "PointerEvent", { configurable: true, value: PointerEvent });
  }
});
afterAll(() => {
  if (clientHeight) Object.defineProperty(HTMLElement.prototype, "clientHeight", clientHeight);
});

beforeEach(() => {
  profiles = {
    ann: { accounts: [LOCAL], activeAccount: "a1", prefs: prefs({}) },
    bob: { accounts: [LOCAL], activeAccount: "a1", prefs: prefs({}) },
  };
  activeProfile = "ann";
  saves = [];
  loads = [];
  selected = [];
  usageAsked = [];
  failLoad = false;
  failSave = false;
  mockIPC(
    (cmd, args) => {
      const req = (args as { req?: Record<string, unknown> } | undefined)?.req ?? {};
      switch (cmd) {
        case "app_status":
          return status();
        case "list_profiles":
          return Object.keys(profiles).map((name) => ({
            name,
            active: name === activeProfile,
            has_passphrase: false,
            locked: false,
            auto_lock_seconds: null,
          }));
        case "switch_profile":
          activeProfile = req.name as string;
          return null;
        case "ui_prefs":
          loads.push(activeProfile);
          if (failLoad) throw { code: "internal", message: "the window is still starting" };
          return profiles[activeProfile].prefs ?? DEFAULT_PREFS;
        case "save_ui_prefs":
          if (failSave) throw { code: "internal", message: "the window's preferences could not be kept" };
          saves.push({ profile: activeProfile, prefs: req as UiPrefs });
          profiles[activeProfile].prefs = req as UiPrefs;
          return req;
        case "select_account":
          selected.push(req.account_id as string);
          profiles[activeProfile].activeAccount = req.account_id as string;
          return null;
        case "list_keys":
          return KEYS.map((m) => ({ meta: m, stored_locally: true }));
        case "get_key":
          return KEYS.find((k) => k.id === req.key_id) ?? KEYS[0];
        case "key_capabilities":
          return CAPS;
        case "kinds":
          return KINDS;
        case "key_usage":
          usageAsked.push(req.granularity as string);
          return { key_id: req.key_id, last_used_at: null, series: [] };
        case "key_denials":
        case "env_references":
        case "guided_rotations":
        case "audit_log":
          return [];
        case "watch_status":
          return {
            settings: { poll_interval_seconds: 60, notifications: true, key_check_minutes: null, key_checks_anikura: false },
            running: true,
            alerts: [],
            resumed: [],
            pending: [],
          };
        default:
          return null;
      }
    },
    { shouldMockEvents: true },
  );
});

afterEach(() => {
  cleanup();
  clearMocks();
  vi.restoreAllMocks();
});

/** The window opened afresh: a new query cache, as after a restart. */
function open() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <App />
    </QueryClientProvider>,
  );
}

function reopen() {
  cleanup();
  open();
}

const header = (name: RegExp) => screen.getByRole("columnheader", { name });
/** The names in the keys table, top to bottom. */
const names = () =>
  [...document.querySelectorAll("table.key-table tbody tr[data-key-id] td.name")].map(
    (td) => td.querySelector(".key-link")?.textContent,
  );
const last = () => saves[saves.length - 1];
/** Longer than the save's debounce: whatever was to be saved was. */
const afterDebounce = () => act(() => new Promise((r) => setTimeout(r, SAVE_DELAY_MS + 150)));

describe("the keys table's sort", () => {
  it("is saved when a header is pressed and restored when the window opens again", async () => {
    open();
    await screen.findByText("deploy bot");
    expect(names()).toEqual(["deploy bot", "ci runner"]);
    fireEvent.click(within(header(/^Name/)).getByRole("button", { name: "Name" }));
    expect(names()).toEqual(["ci runner", "deploy bot"]);
    await waitFor(() => expect(saves).toHaveLength(1));
    expect(saves[0]).toEqual({ profile: "ann", prefs: prefs({ sort: { column: "name", direction: "asc" } }) });

    reopen();
    await screen.findByText("deploy bot");
    expect(header(/^Name/).getAttribute("aria-sort")).toBe("ascending");
    expect(names()).toEqual(["ci runner", "deploy bot"]);
  });
});

describe("column widths", () => {
  it("are resized by a drag of a header's edge, and saved once when it ends", async () => {
    open();
    await screen.findByText("deploy bot");
    const handle = screen.getByRole("separator", { name: "Resize Prefix column" });
    const col = document.querySelector<HTMLElement>("col.col-prefix");
    expect(handle.getAttribute("aria-orientation")).toBe("vertical");
    expect(handle.getAttribute("aria-valuenow")).toBe("132");
    expect([handle.getAttribute("aria-valuemin"), handle.getAttribute("aria-valuemax")]).toEqual(["48", "960"]);

    fireEvent.pointerDown(handle, { clientX: 300, button: 0 });
    for (const x of [301, 302, 310, 340, 370]) fireEvent.pointerMove(window, { clientX: x });
    // The column follows the pointer as it moves.
    expect(handle.getAttribute("aria-valuenow")).toBe("202");
    expect(col?.style.width).toBe("202px");
    fireEvent.pointerMove(window, { clientX: 400 });
    fireEvent.pointerUp(window, { clientX: 400 });
    expect(col?.style.width).toBe("232px");
    // Clicking the handle does not sort.
    expect(header(/^Prefix/).getAttribute("aria-sort")).toBe("none");

    await waitFor(() => expect(saves).toHaveLength(1));
    await afterDebounce();
    expect(saves).toHaveLength(1);
    expect(saves[0].prefs.column_widths).toEqual({ prefix: 232 });

    reopen();
    await screen.findByText("deploy bot");
    expect(screen.getByRole("separator", { name: "Resize Prefix column" }).getAttribute("aria-valuenow")).toBe("232");
    expect(document.querySelector<HTMLElement>("col.col-prefix")?.style.width).toBe("232px");
  });

  it("are resized from the keyboard in 16 px steps within 48 to 960 px, saved once, and reset by Home", async () => {
    open();
    await screen.findByText("deploy bot");
    const scopes = screen.getByRole("separator", { name: "Resize Scopes column" });
    expect(scopes.tabIndex).toBe(0);
    scopes.focus();
    for (const key of ["ArrowRight", "ArrowRight", "ArrowRight", "ArrowLeft"]) fireEvent.keyDown(scopes, { key });
    expect(scopes.getAttribute("aria-valuenow")).toBe("172");
    const status = screen.getByRole("separator", { name: "Resize Status column" });
    for (let i = 0; i < 6; i++) fireEvent.keyDown(status, { key: "ArrowLeft" });
    expect(status.getAttribute("aria-valuenow")).toBe("48");

    await waitFor(() => expect(saves).toHaveLength(1));
    await afterDebounce();
    expect(saves).toHaveLength(1);
    expect(saves[0].prefs.column_widths).toEqual({ scopes: 172, status: 48 });

    fireEvent.keyDown(scopes, { key: "Home" });
    expect(scopes.getAttribute("aria-valuenow")).toBe("140");
    expect(document.querySelector<HTMLElement>("col.col-scopes")?.style.width).toBe("140px");
    await waitFor(() => expect(saves).toHaveLength(2));
    expect(saves[1].prefs.column_widths).toEqual({ status: 48 });
  });

  it("leave the rest to the name column until it is given a width, and then to the actions", async () => {
    open();
    await screen.findByText("deploy bot");
    const width = (className: string) => document.querySelector<HTMLElement>(`col.${className}`)?.style.width;
    const table = screen.getByRole("table", { name: "Keys" });
    // The other columns' 852 px, and 160 px kept for the names.
    expect([width("col-name"), width("col-actions"), table.style.minWidth]).toEqual(["", "152px", "1012px"]);
    // jsdom draws nothing, so the name column starts from a nominal 240 px here.
    fireEvent.keyDown(screen.getByRole("separator", { name: "Resize Name column" }), { key: "ArrowRight" });
    expect([width("col-name"), width("col-actions"), table.style.minWidth]).toEqual(["256px", "", "1108px"]);
    fireEvent.keyDown(screen.getByRole("separator", { name: "Resize Name column" }), { key: "Home" });
    expect([width("col-name"), width("col-actions"), table.style.minWidth]).toEqual(["", "152px", "1012px"]);
  });

  it("have a handle in each sortable header, which leaves the header named by its label alone", async () => {
    open();
    await screen.findByText("deploy bot");
    const labels = ["Name", "Prefix", "Scopes", "Status", "Last used", "Expires", "Hourly limit"];
    // The headers' accessible names are their labels, exactly.
    for (const label of labels) expect(screen.getByRole("columnheader", { name: label })).toBeTruthy();
    expect(screen.getAllByRole("separator").map((s) => s.getAttribute("aria-label"))).toEqual(
      labels.map((label) => `Resize ${label} column`),
    );
  });
});

describe("the workspace tab and the usage chart", () => {
  it("come back as they were left", async () => {
    profiles.ann.prefs = prefs({ tab: "audit" });
    open();
    expect(await screen.findByRole("tab", { name: "Audit log", selected: true })).toBeTruthy();
    fireEvent.click(screen.getByRole("tab", { name: "Keys" }));
    await screen.findByText("deploy bot");
    await waitFor(() => expect(last()?.prefs.tab).toBe("keys"));
    reopen();
    expect(await screen.findByRole("tab", { name: "Keys", selected: true })).toBeTruthy();
  });

  it("shows a key's usage by the granularity last chosen, and keeps a new choice", async () => {
    profiles.ann.prefs = prefs({ granularity: "day" });
    open();
    fireEvent.click(await screen.findByRole("button", { name: "deploy bot" }));
    const byDay = await screen.findByRole("button", { name: "By day" });
    expect(byDay.getAttribute("aria-pressed")).toBe("true");
    await waitFor(() => expect(usageAsked).toContain("day"));
    expect(usageAsked).not.toContain("hour");

    fireEvent.click(screen.getByRole("button", { name: "By hour" }));
    await waitFor(() => expect(last()?.prefs.granularity).toBe("hour"));
    reopen();
    fireEvent.click(await screen.findByRole("button", { name: "deploy bot" }));
    expect((await screen.findByRole("button", { name: "By hour" })).getAttribute("aria-pressed")).toBe("true");
  });
});

describe("the account last shown", () => {
  const current = () => screen.getByRole("navigation", { name: "Accounts" }).querySelector("[aria-current=true]");

  it("is selected again when the window opens", async () => {
    profiles.ann = { accounts: [LOCAL, REMOTE], activeAccount: "a1", prefs: prefs({ account_id: "a2" }) };
    open();
    await screen.findByText("deploy bot");
    expect(selected).toEqual(["a2"]);
    expect(current()?.textContent).toContain("ann@example.com");
  });

  it("is ignored when the profile no longer has it, and the account shown is remembered instead", async () => {
    profiles.ann = { accounts: [LOCAL, REMOTE], activeAccount: "a1", prefs: prefs({ account_id: "gone_1" }) };
    open();
    await screen.findByText("deploy bot");
    expect(selected).toEqual([]);
    expect(current()?.textContent).toContain("This computer");
    await waitFor(() => expect(last()?.prefs.account_id).toBe("a1"));

    fireEvent.click(screen.getByRole("button", { name: /ann@example\.com/ }));
    await waitFor(() => expect(last()?.prefs.account_id).toBe("a2"));
  });
});

describe("profiles", () => {
  it("each have their own preferences: a switch shows the other's, and a change waiting is saved to its own", async () => {
    profiles.ann.prefs = prefs({ sort: { column: "name", direction: "asc" } });
    profiles.bob.prefs = prefs({ sort: { column: "limit", direction: "desc" }, column_widths: { prefix: 200 } });
    open();
    await screen.findByText("deploy bot");
    expect(header(/^Name/).getAttribute("aria-sort")).toBe("ascending");
    // A width changed just before the switch: saved for ann, not for bob.
    fireEvent.keyDown(screen.getByRole("separator", { name: "Resize Scopes column" }), { key: "ArrowRight" });

    fireEvent.change(await screen.findByLabelText("Profile"), { target: { value: "bob" } });
    await waitFor(() => expect(header(/^Hourly limit/).getAttribute("aria-sort")).toBe("descending"));
    expect(header(/^Name/).getAttribute("aria-sort")).toBe("none");
    expect(screen.getByRole("separator", { name: "Resize Prefix column" }).getAttribute("aria-valuenow")).toBe("200");
    expect(screen.getByRole("separator", { name: "Resize Scopes column" }).getAttribute("aria-valuenow")).toBe("140");
    await afterDebounce();
    expect(saves).toEqual([
      { profile: "ann", prefs: prefs({ sort: { column: "name", direction: "asc" }, column_widths: { scopes: 156 } }) },
    ]);

    fireEvent.change(screen.getByLabelText("Profile"), { target: { value: "ann" } });
    await waitFor(() => expect(header(/^Name/).getAttribute("aria-sort")).toBe("ascending"));
    expect(screen.getByRole("separator", { name: "Resize Scopes column" }).getAttribute("aria-valuenow")).toBe("156");
    // Read once each time a profile became the active one, however often the status was read.
    expect(loads).toEqual(["ann", "bob", "ann"]);
  });
});

describe("when the preferences cannot be kept", () => {
  it("a failed save leaves the window as it is, with a warning in the console only", async () => {
    failSave = true;
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    open();
    await screen.findByText("deploy bot");
    fireEvent.click(within(header(/^Name/)).getByRole("button", { name: "Name" }));
    await waitFor(() => expect(warn).toHaveBeenCalledTimes(1));
    expect(String(warn.mock.calls[0][0])).toBe("The window's preferences were not saved (internal).");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(header(/^Name/).getAttribute("aria-sort")).toBe("ascending");
    fireEvent.click(within(header(/^Name/)).getByRole("button", { name: "Name" }));
    expect(header(/^Name/).getAttribute("aria-sort")).toBe("descending");
  });

  it("a failed read leaves the defaults, and nothing is saved over what the profile kept", async () => {
    failLoad = true;
    profiles.ann.prefs = prefs({ tab: "audit", sort: { column: "name", direction: "asc" } });
    open();
    await screen.findByText("deploy bot");
    expect(screen.getByRole("tab", { name: "Keys", selected: true })).toBeTruthy();
    expect(header(/^Name/).getAttribute("aria-sort")).toBe("none");
    fireEvent.click(within(header(/^Prefix/)).getByRole("button", { name: "Prefix" }));
    expect(header(/^Prefix/).getAttribute("aria-sort")).toBe("ascending");
    await afterDebounce();
    expect(saves).toEqual([]);
  });
});

describe("cleanPrefs", () => {
  it("keeps only the known fields, and only values the Rust side accepts", () => {
    const sent = {
      ...prefs({ sort: { column: "status", direction: "desc" }, tab: "usage", granularity: "day" }),
      column_widths: { name: 47, prefix: 961, scopes: 300, status: 120.5 },
      secret: "kh_live_x",
    } as UiPrefs;
    expect(cleanPrefs(sent)).toEqual(
      prefs({ sort: { column: "status", direction: "desc" }, tab: "usage", granularity: "day", column_widths: { scopes: 300 } }),
    );
    expect(cleanPrefs({ account_id: "../../etc" }).account_id).toBeNull();
    expect(cleanPrefs({ account_id: "x".repeat(65) }).account_id).toBeNull();
    expect(cleanPrefs(null)).toEqual(DEFAULT_PREFS);
  });

  it("clamps a width to whole pixels between 48 and 960", () => {
    expect([clampWidth(10), clampWidth(100.4), clampWidth(5000)]).toEqual([48, 100, 960]);
  });
});
