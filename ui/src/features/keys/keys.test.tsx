import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { ReactNode } from "react";
import type { KeyMeta, KeyView } from "../../ipc";
import { NewKeyDialog } from "./NewKeyDialog";
import { RevokeDialog } from "./RevokeDialog";
import { filterKeys, sortKeys } from "./useKeys";

const SECRET = "kh_live_TESTSECRETVALUEdoesnotexist0123ABCDEF";

function meta(over: Partial<KeyMeta> = {}): KeyMeta {
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
    ...over,
  };
}

type Call = { cmd: string; args: unknown };
let calls: Call[] = [];
let client: QueryClient;

function wrap(node: ReactNode) {
  return render(<QueryClientProvider client={client}>{node}</QueryClientProvider>);
}

beforeEach(() => {
  calls = [];
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  mockIPC((cmd, args) => {
    calls.push({ cmd, args });
    switch (cmd) {
      case "create_key":
        return { meta: meta(), secret_once: SECRET, stored_in_keychain: true, keychain_error: null };
      case "copy_secret":
        return { clears_in_seconds: 30 };
      case "revoke_key":
        return null;
      case "list_keys":
        return [];
      default:
        throw new Error(`unexpected command ${cmd}`);
    }
  });
});

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("NewKeyDialog", () => {
  it("names what is wrong and sends nothing when the name is empty", async () => {
    wrap(<NewKeyDialog accountId="a1" scopes={["read", "write"]} clipboardSeconds={30} onClose={() => undefined} />);
    fireEvent.click(screen.getByRole("button", { name: "Create" }));
    expect(await screen.findByText("Give the key a name.")).toBeTruthy();
    expect(calls.filter((c) => c.cmd === "create_key")).toHaveLength(0);
  });

  it("asks for at least one scope", async () => {
    wrap(<NewKeyDialog accountId="a1" scopes={["read"]} clipboardSeconds={30} onClose={() => undefined} />);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "ci" } });
    fireEvent.click(screen.getByLabelText("read"));
    fireEvent.click(screen.getByRole("button", { name: "Create" }));
    expect(await screen.findByText("Choose at least one scope.")).toBeTruthy();
    expect(calls.filter((c) => c.cmd === "create_key")).toHaveLength(0);
  });

  it("shows the secret once, copies through the keychain, and forgets it on Done", async () => {
    let closed = false;
    wrap(
      <NewKeyDialog accountId="a1" scopes={["read", "write"]} clipboardSeconds={30} onClose={() => (closed = true)} />,
    );
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "  deploy bot " } });
    fireEvent.click(screen.getByLabelText("write"));
    fireEvent.click(screen.getByRole("button", { name: "Create" }));

    expect(await screen.findByText(SECRET)).toBeTruthy();
    expect(screen.getByText("✓ Stored in keychain")).toBeTruthy();
    const create = calls.find((c) => c.cmd === "create_key");
    expect(create?.args).toEqual({ req: { account_id: "a1", name: "deploy bot", scopes: ["read", "write"] } });

    fireEvent.click(screen.getByRole("button", { name: "Copy" }));
    expect(await screen.findByText(/clipboard clears in 30 s/)).toBeTruthy();
    expect(calls.find((c) => c.cmd === "copy_secret")?.args).toEqual({ req: { account_id: "a1", key_id: "key_1" } });

    // Nothing the query library keeps holds the secret.
    const cached = JSON.stringify([
      client.getQueryCache().getAll().map((q) => q.state.data),
      client.getMutationCache().getAll().map((m) => m.state.data),
    ]);
    expect(cached).not.toContain(SECRET);

    fireEvent.click(screen.getByRole("button", { name: "Done" }));
    expect(closed).toBe(true);
  });

  it("closes on Escape", async () => {
    let closed = false;
    wrap(<NewKeyDialog accountId="a1" scopes={["read"]} clipboardSeconds={30} onClose={() => (closed = true)} />);
    fireEvent.keyDown(document, { key: "Escape" });
    expect(closed).toBe(true);
  });
});

describe("RevokeDialog", () => {
  it("revokes only after the key's name is typed", async () => {
    let closed = false;
    wrap(<RevokeDialog accountId="a1" meta={meta()} onClose={() => (closed = true)} />);
    const revoke = screen.getByRole("button", { name: "Revoke" }) as HTMLButtonElement;
    expect(revoke.disabled).toBe(true);
    fireEvent.change(screen.getByLabelText("Type the key's name to confirm"), { target: { value: "deploy bo" } });
    expect(revoke.disabled).toBe(true);
    fireEvent.change(screen.getByLabelText("Type the key's name to confirm"), { target: { value: "deploy bot" } });
    expect(revoke.disabled).toBe(false);
    fireEvent.click(revoke);
    await waitFor(() => expect(closed).toBe(true));
    expect(calls.find((c) => c.cmd === "revoke_key")?.args).toEqual({ req: { account_id: "a1", key_id: "key_1" } });
  });
});

describe("filterKeys and sortKeys", () => {
  const keys: KeyView[] = [
    { meta: meta({ id: "1", name: "old", status: "revoked", created_at: "2026-01-03T00:00:00Z" }), stored_locally: false },
    { meta: meta({ id: "2", name: "ci", scopes: ["search"], created_at: "2026-01-01T00:00:00Z" }), stored_locally: true },
    { meta: meta({ id: "3", name: "web", prefix: "kh_live_WXYZ", created_at: "2026-01-02T00:00:00Z" }), stored_locally: true },
  ];
  it("matches name, prefix, scope and status, ignoring case", () => {
    expect(filterKeys(keys, "CI").map((k) => k.meta.id)).toEqual(["2"]);
    expect(filterKeys(keys, "wxyz").map((k) => k.meta.id)).toEqual(["3"]);
    expect(filterKeys(keys, "search").map((k) => k.meta.id)).toEqual(["2"]);
    expect(filterKeys(keys, "revoked").map((k) => k.meta.id)).toEqual(["1"]);
    expect(filterKeys(keys, "  ")).toHaveLength(3);
  });
  it("puts active keys first, newest first", () => {
    expect(sortKeys(keys).map((k) => k.meta.id)).toEqual(["3", "2", "1"]);
  });
});
