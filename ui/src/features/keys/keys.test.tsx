import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { ReactNode } from "react";
import { NewKeyDialog } from "./NewKeyDialog";
import { RevokeDialog } from "./RevokeDialog";
import { meta } from "./testing";
import { newKeyPrefill } from "../deeplink/parse";

const SECRET = "kh_live_TESTSECRETVALUEdoesnotexist0123ABCDEF";

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

  it("sends every field: expiry, allowed origins, allowed IPs and the hourly limit", async () => {
    wrap(<NewKeyDialog accountId="a1" scopes={["read", "write"]} clipboardSeconds={30} onClose={() => undefined} />);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "web app" } });
    fireEvent.change(screen.getByLabelText("Expires"), { target: { value: "date" } });
    fireEvent.change(screen.getByLabelText("Expiry date"), { target: { value: "2099-12-31" } });
    fireEvent.change(screen.getByLabelText("Allowed origins"), {
      target: { value: "https://app.example.com\nhttp://localhost:3000" },
    });
    fireEvent.change(screen.getByLabelText("Allowed IPs"), { target: { value: "203.0.113.7, 10.0.0.0/8" } });
    fireEvent.change(screen.getByLabelText("Hourly limit"), { target: { value: "1,000" } });
    fireEvent.click(screen.getByRole("button", { name: "Create" }));

    expect(await screen.findByText(SECRET)).toBeTruthy();
    const req = (calls.find((c) => c.cmd === "create_key")?.args as { req: Record<string, unknown> }).req;
    const expires = new Date(req.expires_at as string);
    expect([expires.getFullYear(), expires.getMonth(), expires.getDate(), expires.getHours()]).toEqual([2099, 11, 31, 23]);
    expect({ ...req, expires_at: undefined }).toEqual({
      account_id: "a1",
      name: "web app",
      scopes: ["read"],
      expires_at: undefined,
      allowed_origins: ["https://app.example.com", "http://localhost:3000"],
      allowed_ips: ["203.0.113.7", "10.0.0.0/8"],
      rate_limit_per_hour: 1000,
    });
  });

  it("checks fields as they are typed, names the problem, and sends nothing until fixed", async () => {
    wrap(<NewKeyDialog accountId="a1" scopes={["read"]} clipboardSeconds={30} onClose={() => undefined} />);
    const origins = screen.getByLabelText("Allowed origins");
    fireEvent.change(origins, { target: { value: "https://ok.example app.example.com" } });
    expect(screen.getByText(/“app.example.com” has no scheme/)).toBeTruthy();
    expect(origins.getAttribute("aria-invalid")).toBe("true");
    // The problem is read out with the field.
    const describedBy = origins.getAttribute("aria-describedby") ?? "";
    expect(document.getElementById(describedBy)?.textContent).toMatch(/has no scheme/);

    fireEvent.change(screen.getByLabelText("Allowed IPs"), { target: { value: "10.0.0.0/40" } });
    expect(screen.getByText(/“10.0.0.0\/40” has a bad prefix length/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Hourly limit"), { target: { value: "0" } });
    expect(screen.getByText("The hourly limit must be at least 1 (leave it empty for no limit).")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "n".repeat(101) } });
    expect(screen.getByText("The name is 101 characters long; at most 100 are allowed.")).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "Create" }));
    expect(calls.filter((c) => c.cmd === "create_key")).toHaveLength(0);

    fireEvent.change(origins, { target: { value: "https://ok.example" } });
    expect(screen.queryByText(/has no scheme/)).toBeNull();
    expect(origins.getAttribute("aria-invalid")).toBe("false");
  });

  it("opens prefilled from a link, says so, lists the link's problems, and creates only on Create", async () => {
    wrap(
      <NewKeyDialog
        accountId="a1"
        scopes={["read", "write", "search"]}
        clipboardSeconds={30}
        prefill={newKeyPrefill({ name: "ci bot", scopes: ["write", "search"], problems: ["The link asks for a scope this service does not offer, not selected: “admin”."] })}
        onClose={() => undefined}
      />,
    );
    expect((screen.getByLabelText("Name") as HTMLInputElement).value).toBe("ci bot");
    expect((screen.getByLabelText("read") as HTMLInputElement).checked).toBe(false);
    expect((screen.getByLabelText("write") as HTMLInputElement).checked).toBe(true);
    expect((screen.getByLabelText("search") as HTMLInputElement).checked).toBe(true);
    expect(screen.getByTestId("from-link").textContent).toMatch(/Opened from a keyhaven:\/\/ link/);
    expect(screen.getByText(/not selected: “admin”/)).toBeTruthy();
    await new Promise((r) => setTimeout(r, 20));
    expect(calls.filter((c) => c.cmd === "create_key")).toHaveLength(0);
    fireEvent.click(screen.getByRole("button", { name: "Create" }));
    expect(await screen.findByText(SECRET)).toBeTruthy();
    expect(calls.find((c) => c.cmd === "create_key")?.args).toEqual({
      req: { account_id: "a1", name: "ci bot", scopes: ["write", "search"] },
    });
  });

  it("asks only for what the service's keys can carry: TokenKit has no scopes or expiry", async () => {
    const tokenkit = { create_key: true, revoke_key: true, allowed_origins: true, allowed_ips: true, rate_limit_per_hour: true } as never;
    wrap(
      <NewKeyDialog
        accountId="a2"
        scopes={["read", "write"]}
        clipboardSeconds={30}
        caps={tokenkit}
        prefill={newKeyPrefill({ name: "cron", scopes: ["read"], expires: { choice: "30d", date: "" }, ips: ["10.0.0.0/8"], hourlyLimit: 50 })}
        onClose={() => undefined}
      />,
    );
    expect(screen.queryByRole("group", { name: "Scopes" })).toBeNull();
    expect(screen.queryByLabelText("Expires")).toBeNull();
    expect((screen.getByLabelText("Allowed IPs") as HTMLTextAreaElement).value).toBe("10.0.0.0/8");
    expect((screen.getByLabelText("Hourly limit") as HTMLInputElement).value).toBe("50");
    expect(screen.getByText("The link asks for scopes, an expiry, which keys of this service cannot have; left out.")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Create" }));
    expect(await screen.findByText(SECRET)).toBeTruthy();
    expect(calls.find((c) => c.cmd === "create_key")?.args).toEqual({
      req: { account_id: "a2", name: "cron", scopes: [], allowed_ips: ["10.0.0.0/8"], rate_limit_per_hour: 50 },
    });
  });

  it("has none of origins, IPs or hourly limit where the service has none, and shows who asked as plain text", async () => {
    const scoped = { create_key: true, key_scopes: true, key_expiry: true } as never;
    wrap(
      <NewKeyDialog
        accountId="a3"
        scopes={["read"]}
        clipboardSeconds={30}
        caps={scoped}
        prefill={newKeyPrefill({ name: "bot", requestedBy: "<b>Review Tool</b>", origins: ["https://app.example.com"] })}
        onClose={() => undefined}
      />,
    );
    expect(screen.queryByLabelText("Allowed origins")).toBeNull();
    expect(screen.queryByLabelText("Allowed IPs")).toBeNull();
    expect(screen.queryByLabelText("Hourly limit")).toBeNull();
    expect(screen.getByLabelText("Expires")).toBeTruthy();
    const who = screen.getByTestId("requested-by");
    expect(who.textContent).toMatch(/^Requested by <b>Review Tool<\/b> \(as the link says/);
    expect(who.querySelector("b")).toBeNull();
    expect(screen.getByText(/asks for allowed origins, which keys of this service cannot have/)).toBeTruthy();
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
