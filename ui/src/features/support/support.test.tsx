import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { Account, SupportKey, SupportKeyDetail } from "../../ipc";
import { meta } from "../keys/testing";
import { SupportView, reason } from "./SupportView";

const account: Account = {
  id: "s1",
  label: "help@keyhaven.test @ local",
  service: { kind: "embedded" },
  email: "help@keyhaven.test",
  user_id: "u9",
  role: "support",
  tenant_id: "t0",
  connector: "native",
  created_at: "2026-01-01T00:00:00Z",
  remember_password: false,
};

const found: SupportKey = { ...meta({ id: "key_7", tenant_id: "t2", prefix: "kh_live_Abc1", name: "shop backend" }), tenant_name: "Shop Ltd" };
const detail: SupportKeyDetail = {
  meta: meta({ id: "key_7", tenant_id: "t2", prefix: "kh_live_Abc1", name: "shop backend" }),
  usage: {
    key_id: "key_7",
    last_used_at: "2026-01-02T10:10:00Z",
    series: [{ t: "2026-01-02T10:00:00Z", allowed: 12, denied: { origin_not_allowed: 3 } }],
  },
  denials: [{ at: "2026-01-02T10:05:00Z", code: "origin_not_allowed", ip: "203.0.113.9", origin: "https://evil.test" }],
  audit: [{ at: "2026-01-01T09:00:00Z", actor: "u2", action: "key.create", target: "key_7", ip: "198.51.100.4" }],
};

let calls: { cmd: string; args: unknown }[];
beforeEach(() => {
  calls = [];
  mockIPC((cmd, args) => {
    calls.push({ cmd, args });
    if (cmd === "support_find_keys") return [found];
    if (cmd === "support_key_detail") return detail;
    throw new Error(`unexpected command ${cmd}`);
  });
});
afterEach(() => {
  cleanup();
  clearMocks();
});

describe("SupportView", () => {
  it("finds a key by prefix across tenants and shows metadata, usage, denials and audit, read-only", async () => {
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={client}>
        <SupportView account={account} />
      </QueryClientProvider>,
    );
    fireEvent.change(screen.getByLabelText("Key prefix from the ticket"), { target: { value: " kh_live_Abc " } });
    fireEvent.click(screen.getByRole("button", { name: "Find" }));
    await screen.findByText("Shop Ltd");
    expect(calls[0]).toEqual({ cmd: "support_find_keys", args: { req: { account_id: "s1", prefix: "kh_live_Abc" } } });
    fireEvent.click(screen.getByRole("button", { name: "Open kh_live_Abc1" }));
    await screen.findByRole("table", { name: "Denials" });
    expect(calls[1]).toEqual({ cmd: "support_key_detail", args: { req: { account_id: "s1", key_id: "key_7", tenant_id: "t2" } } });
    expect(screen.getByRole("table", { name: "Usage" }).textContent).toContain("12");
    expect(screen.getByRole("table", { name: "Denials" }).textContent).toContain("origin not allowed");
    expect(screen.getByRole("table", { name: "Denials" }).textContent).toContain("203.0.113.9");
    expect(screen.getByRole("table", { name: "Tenant audit log" }).textContent).toContain("key.create");
    // Nothing here reveals, copies or changes anything.
    const buttons = screen.getAllByRole("button").map((b) => b.textContent ?? "");
    for (const word of [/copy/i, /reveal/i, /show secret/i, /rotate/i, /revoke/i, /edit/i, /delete/i, /new key/i]) {
      expect(buttons.filter((b) => word.test(b))).toEqual([]);
    }
    expect(buttons).toEqual(["Find", "← Results"]);
    await waitFor(() => expect(calls).toHaveLength(2));
  });

  it("names denial reasons in words", () => {
    expect(reason("ip_not_allowed")).toBe("IP not allowed");
    expect(reason("daily_cap_reached")).toBe("daily cap");
    expect(reason("something_new")).toBe("something new");
  });
});
