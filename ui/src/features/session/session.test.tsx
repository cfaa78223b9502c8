import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { useCallback, useState } from "react";
import { commands, type Account } from "../../ipc";
import { useCommandErrors, accountOf } from "./useCommandErrors";
import { SignInAgain } from "./SignInAgain";

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
  remember_password: false,
};

afterEach(() => {
  cleanup();
  clearMocks();
});

function Harness() {
  const [expired, setExpired] = useState(false);
  const [locked, setLocked] = useState(false);
  useCommandErrors({
    onLocked: useCallback(() => setLocked(true), []),
    onSessionExpired: useCallback((id: string) => id === "a1" && setExpired(true), []),
  });
  const keys = useQuery({ queryKey: ["keys", "a1"], queryFn: () => commands.listKeys({ account_id: "a1" }) });
  return (
    <div>
      {locked && <p>locked</p>}
      {expired && <SignInAgain account={account} onDone={() => setExpired(false)} />}
      <p>{keys.isSuccess ? "keys loaded" : "no keys"}</p>
    </div>
  );
}

describe("expired session", () => {
  it("shows Sign in again in place, and signs in with the account's service and email", async () => {
    let signedIn = false;
    const calls: { cmd: string; args: unknown }[] = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      if (cmd === "list_keys") {
        if (!signedIn) throw { code: "unauthorized", message: "Your session has expired or is no longer valid: sign in again." };
        return [];
      }
      if (cmd === "sign_in") {
        signedIn = true;
        return account;
      }
      throw new Error(`unexpected ${cmd}`);
    });
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={client}>
        <Harness />
      </QueryClientProvider>,
    );
    const form = await screen.findByRole("form", { name: "Sign in again" });
    expect(form.textContent).toContain("dev@acme.test");
    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "pw-for-test" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in again" }));
    await screen.findByText("keys loaded");
    expect(screen.queryByRole("form", { name: "Sign in again" })).toBeNull();
    expect(calls.find((c) => c.cmd === "sign_in")?.args).toEqual({
      req: { service: { kind: "embedded" }, email: "dev@acme.test", password: "pw-for-test" },
    });
  });

  it("reports a locked profile", async () => {
    mockIPC(() => {
      throw { code: "locked", message: "Profile ann is locked: enter its passphrase to unlock it." };
    });
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={client}>
        <Harness />
      </QueryClientProvider>,
    );
    await waitFor(() => expect(screen.getByText("locked")).toBeTruthy());
  });

  it("finds the account in query keys and mutation variables", () => {
    expect(accountOf({ account_id: "a9", key_id: "k" })).toBe("a9");
    expect(accountOf([{ account_id: "a9" }])).toBe("a9");
    expect(accountOf("nothing")).toBeNull();
  });
});
