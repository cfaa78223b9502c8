import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { ProfileInfo } from "../../ipc";
import { ProfileSwitcher } from "./ProfileSwitcher";
import { UnlockScreen } from "./UnlockScreen";
import { checkNewPassphrase } from "./PassphraseForm";

const profile = (over: Partial<ProfileInfo>): ProfileInfo => ({
  name: "ann",
  active: false,
  has_passphrase: false,
  locked: false,
  auto_lock_seconds: 900,
  ...over,
});

let client: QueryClient;
let calls: { cmd: string; args: unknown }[];
beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  calls = [];
});
afterEach(() => {
  cleanup();
  clearMocks();
});

function wrap(ui: React.ReactNode) {
  return render(<QueryClientProvider client={client}>{ui}</QueryClientProvider>);
}

describe("ProfileSwitcher", () => {
  it("shows the active profile and switches with one choice, dropping every cached answer", async () => {
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      return null;
    });
    client.setQueryData(["keys", "account-of-ann"], ["secret-free metadata"]);
    wrap(<ProfileSwitcher profiles={[profile({ name: "ann", active: true }), profile({ name: "bob" })]} />);
    const select = screen.getByLabelText("Profile") as HTMLSelectElement;
    expect(select.value).toBe("ann");
    fireEvent.change(select, { target: { value: "bob" } });
    await waitFor(() => expect(calls.map((c) => c.cmd)).toContain("switch_profile"));
    expect(calls.find((c) => c.cmd === "switch_profile")?.args).toEqual({ req: { name: "bob" } });
    await waitFor(() => expect(client.getQueryData(["keys", "account-of-ann"])).toBeUndefined());
  });

  it("offers Lock only for an unlocked profile with a passphrase", async () => {
    mockIPC((cmd) => {
      calls.push({ cmd, args: null });
      return null;
    });
    const { rerender } = wrap(<ProfileSwitcher profiles={[profile({ name: "ann", active: true })]} />);
    expect(screen.queryByRole("button", { name: "Lock" })).toBeNull();
    rerender(
      <QueryClientProvider client={client}>
        <ProfileSwitcher profiles={[profile({ name: "ann", active: true, has_passphrase: true })]} />
      </QueryClientProvider>,
    );
    fireEvent.click(screen.getByRole("button", { name: "Lock" }));
    await waitFor(() => expect(calls.map((c) => c.cmd)).toContain("lock_profile"));
  });

  it("deletes a profile only after its name is typed", async () => {
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      return null;
    });
    wrap(<ProfileSwitcher profiles={[profile({ name: "ann", active: true }), profile({ name: "bob" })]} />);
    fireEvent.click(screen.getByRole("button", { name: "Profiles…" }));
    const deletes = screen.getAllByRole("button", { name: "Delete" });
    expect((deletes[0] as HTMLButtonElement).disabled).toBe(true); // the active profile
    fireEvent.click(deletes[1]);
    const confirm = screen.getByRole("button", { name: "Delete profile" });
    expect((confirm as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(screen.getByLabelText(/Type bob to delete/), { target: { value: "bo" } });
    expect((confirm as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(screen.getByLabelText(/Type bob to delete/), { target: { value: "bob" } });
    fireEvent.click(confirm);
    await waitFor(() => expect(calls.map((c) => c.cmd)).toContain("delete_profile"));
    expect(calls.find((c) => c.cmd === "delete_profile")?.args).toEqual({ req: { name: "bob", confirm: "bob" } });
  });
});

describe("UnlockScreen", () => {
  it("says a wrong passphrase is wrong, empties the field, then unlocks with the right one", async () => {
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      if (cmd === "unlock_profile") {
        const { passphrase } = (args as { req: { passphrase: string } }).req;
        if (passphrase !== "correct horse") {
          throw { code: "wrong_passphrase", message: "Wrong passphrase for profile ann. Nothing was changed." };
        }
      }
      return null;
    });
    wrap(<UnlockScreen profile="ann" />);
    const field = screen.getByLabelText("Passphrase") as HTMLInputElement;
    expect(field.type).toBe("password");
    fireEvent.change(field, { target: { value: "nope nope" } });
    fireEvent.click(screen.getByRole("button", { name: "Unlock" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Wrong passphrase");
    expect(field.value).toBe("");
    fireEvent.change(field, { target: { value: "correct horse" } });
    fireEvent.click(screen.getByRole("button", { name: "Unlock" }));
    await waitFor(() => expect(screen.queryByRole("alert")).toBeNull());
    expect(calls.filter((c) => c.cmd === "unlock_profile")).toHaveLength(2);
    expect(field.value).toBe("");
  });
});

describe("checkNewPassphrase", () => {
  it("asks for 8 characters and the same passphrase twice", () => {
    expect(checkNewPassphrase("short", "short")).toMatch(/8 characters/);
    expect(checkNewPassphrase("long enough", "long enougH")).toMatch(/differ/);
    expect(checkNewPassphrase("long enough", "long enough")).toBeNull();
  });
});
