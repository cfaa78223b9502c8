import { afterEach, describe, expect, it } from "vitest";
import { act, cleanup, render, screen, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import type { AppStatus } from "./ipc";
import { DEEP_LINK_EVENT } from "./ipc/deepLink";
import { App } from "./App";

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

let created = 0;
function start(launchLinks: string[] | null) {
  created = 0;
  mockIPC(
    (cmd) => {
      switch (cmd) {
        case "app_status":
          return status;
        case "list_keys":
          return [];
        case "plugin:deep-link|get_current":
          return launchLinks;
        case "create_key":
          created++;
          throw new Error("not in this test");
        default:
          throw new Error(`unexpected command ${cmd}`);
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
}

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("App and keyhaven:// links", () => {
  it("opens New key prefilled from the link the app was launched with, and creates nothing", async () => {
    start(["keyhaven://new-key?name=deploy%20bot&scopes=write,search"]);
    const dialog = await screen.findByRole("dialog", { name: "New key" });
    expect((within(dialog).getByLabelText("Name") as HTMLInputElement).value).toBe("deploy bot");
    expect((within(dialog).getByLabelText("write") as HTMLInputElement).checked).toBe(true);
    expect((within(dialog).getByLabelText("search") as HTMLInputElement).checked).toBe(true);
    expect((within(dialog).getByLabelText("read") as HTMLInputElement).checked).toBe(false);
    expect(created).toBe(0);
  });

  it("opens New key from a link forwarded by a second launch, with the link's problems", async () => {
    start(null);
    await screen.findByText("No keys yet on this account.");
    expect(screen.queryByRole("dialog")).toBeNull();
    await act(() => emit(DEEP_LINK_EVENT, [`keyhaven://new-key?name=${"x".repeat(150)}&scopes=read,admin`]));
    const dialog = await screen.findByRole("dialog", { name: "New key" });
    expect((within(dialog).getByLabelText("Name") as HTMLInputElement).value).toBe("");
    expect(within(dialog).getByText(/150 characters long \(at most 100\); it was not filled in/)).toBeTruthy();
    expect(within(dialog).getByText(/does not offer, not selected: “admin”/)).toBeTruthy();
    expect(within(dialog).getByText("Give the key a name.")).toBeTruthy();
    expect(created).toBe(0);
  });

  it("reports a link it does not understand without opening anything", async () => {
    start(null);
    await screen.findByText("No keys yet on this account.");
    await act(() => emit(DEEP_LINK_EVENT, ["keyhaven://delete-all"]));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/A keyhaven:\/\/ link was ignored\..*“delete-all”/);
    expect(screen.queryByRole("dialog")).toBeNull();
  });
});

describe("App on a first run", () => {
  it("says the profile's own account is being set up, never offers to sign in, and shows its keys when ready", async () => {
    let reads = 0;
    mockIPC(
      (cmd) => {
        switch (cmd) {
          case "app_status":
            reads++;
            // The first two reads come while the account is being made.
            return reads <= 2
              ? { ...status, accounts: [], active_account_id: null, local_service: { ...status.local_service, preparing: true } }
              : status;
          case "list_keys":
            return [];
          case "plugin:deep-link|get_current":
            return null;
          default:
            throw new Error(`unexpected command ${cmd}`);
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
    expect(await screen.findByText("Setting up this computer's account on the local key service…")).toBeTruthy();
    expect(screen.queryByText("Sign in to a key service")).toBeNull();
    // Read again on its own while preparing: no event needed.
    expect(await screen.findByText("No keys yet on this account.", {}, { timeout: 3000 })).toBeTruthy();
    expect(reads).toBeGreaterThanOrEqual(3);
  });
});
