// Accessibility (#22): axe-core finds no violation on the app's screens, rendered as the window
// renders them (jsdom; colour contrast, which needs a layout engine, is left to the real window).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import axe from "axe-core";
import type { AppStatus, Capabilities } from "./ipc";
import { App } from "./App";
import { meta } from "./features/keys/testing";
import { KINDS } from "./features/kinds/testing";

const status: AppStatus = {
  profile: "ann",
  accounts: [
    {
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
    },
  ],
  active_account_id: "a1",
  local_service: { url: "http://127.0.0.1:1", error: null, preparing: false },
  scopes: ["read", "write", "search"],
  clipboard_clear_seconds: 30,
  startup_error: null,
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
  meta({ id: "k1", name: "deploy bot", prefix: "kh_live_AbCd" }),
  meta({ id: "k2", name: "ci runner", prefix: "kh_live_EfGh", scopes: ["read", "write"] }),
];

// jsdom lays nothing out: give the keys table's scroll box room for ten rows, so its rows are drawn.
const clientHeight = Object.getOwnPropertyDescriptor(HTMLElement.prototype, "clientHeight");
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, "clientHeight", {
    configurable: true,
    get(this: HTMLElement) {
      return this.classList.contains("table-scroll") ? 400 : 0;
    },
  });
});
afterAll(() => {
  if (clientHeight) Object.defineProperty(HTMLElement.prototype, "clientHeight", clientHeight);
});

beforeEach(() => {
  mockIPC(
    (cmd, args) => {
      switch (cmd) {
        case "app_status":
          return status;
        case "list_keys":
          return KEYS.map((m) => ({ meta: m, stored_locally: true }));
        case "get_key": {
          const id = (args as { req: { key_id: string } }).req.key_id;
          return KEYS.find((k) => k.id === id) ?? KEYS[0];
        }
        case "key_capabilities":
          return CAPS;
        case "kinds":
          return KINDS;
        case "key_usage":
          return { key_id: "k1", last_used_at: null, series: [] };
        case "key_denials":
        case "env_references":
        case "guided_rotations":
        case "audit_log":
          return [];
        case "watch_status":
          return { settings: { poll_interval_seconds: 60, notifications: true, key_check_minutes: null, key_checks_anikura: false }, running: true, alerts: [], resumed: [], pending: [] };
        case "cached_usage":
          return null;
        case "list_profiles":
          return [{ name: "ann", active: true, has_passphrase: false, locked: false, auto_lock_seconds: null }];
        case "get_settings":
          return { poll_interval_seconds: 60, notifications: true, clipboard_clear_seconds: 30, key_checks: false, key_check_interval_minutes: 60, key_checks_anikura: false, keep_watching_in_tray: false };
        case "plugin:deep-link|get_current":
          return null;
        default:
          return null;
      }
    },
    { shouldMockEvents: true },
  );
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <App />
    </QueryClientProvider>,
  );
});

afterEach(() => {
  cleanup();
  clearMocks();
});

/** axe's violations on the page now, each with the rule and the elements it names. */
async function violations(): Promise<string[]> {
  const result = await axe.run(document.body, { rules: { "color-contrast": { enabled: false } } });
  return result.violations.map((v) => `${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

describe("accessibility (axe-core)", () => {
  it("the keys screen", async () => {
    await screen.findByText("deploy bot");
    expect(await violations()).toEqual([]);
  });

  it("the New key dialog", async () => {
    await screen.findByText("deploy bot");
    fireEvent.click(screen.getByRole("button", { name: "New key" }));
    await screen.findByRole("dialog", { name: "New key" });
    expect(await violations()).toEqual([]);
  });

  it("the Add account dialog", async () => {
    await screen.findByText("deploy bot");
    fireEvent.click(screen.getByRole("button", { name: "Add account" }));
    await screen.findByRole("dialog");
    expect(await violations()).toEqual([]);
  });

  it("a key's detail and its Rotate and Revoke dialogs", async () => {
    fireEvent.click(await screen.findByRole("button", { name: "deploy bot" }));
    await screen.findByRole("heading", { name: /deploy bot/ });
    expect(await violations()).toEqual([]);
    fireEvent.click(screen.getByRole("button", { name: "Rotate" }));
    const rotate = await screen.findByRole("dialog");
    expect(await violations()).toEqual([]);
    fireEvent.click(within(rotate).getByRole("button", { name: "Cancel" }));
    fireEvent.click(screen.getByRole("button", { name: "Revoke" }));
    await screen.findByRole("dialog");
    expect(await violations()).toEqual([]);
  });

  it("the Settings and Alerts dialogs", async () => {
    await screen.findByText("deploy bot");
    fireEvent.click(await screen.findByRole("button", { name: /Settings/ }));
    await screen.findByRole("dialog", { name: "Settings" });
    await screen.findByLabelText(/Clear copied secrets after/);
    expect(await violations()).toEqual([]);
  });
});
