import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import type { WatchEvent, WatchStatus } from "../../ipc";
import { WATCH_EVENT } from "../../ipc/events";
import { AlertsButton, RotationBanner } from "./WatchBar";
import { usageKey } from "./useUsage";

let client: QueryClient;
let status: WatchStatus;

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  status = { settings: { poll_interval_seconds: 60, notifications: true }, running: true, alerts: [], resumed: [], pending: [] };
  mockIPC(
    (cmd) => {
      if (cmd === "watch_status") return status;
      throw new Error(`unexpected command ${cmd}`);
    },
    { shouldMockEvents: true },
  );
});

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("usage watch in the window", () => {
  it("badges alerts as they arrive, lists them, and keeps fresh usage in the cache", async () => {
    render(
      <QueryClientProvider client={client}>
        <AlertsButton />
      </QueryClientProvider>,
    );
    await screen.findByRole("button", { name: "Alerts" });
    const alert: WatchEvent = {
      event: "alert",
      alert: {
        id: "a1",
        account_id: "acc",
        key_id: "k1",
        key_name: "deploy bot",
        severity: "warning",
        kind: { type: "key_unused", last_used_at: null, days: 31 },
        message: "deploy bot has not been used for 31 days.",
      },
    };
    await act(() => emit(WATCH_EVENT, alert));
    const button = await screen.findByRole("button", { name: "Alerts, 1 new" });
    const snapshot = { account_id: "acc", tenant_id: "t", fetched_at: "2026-01-01T00:00:00Z", keys: [], calls_today: 3, daily: null };
    await act(() => emit(WATCH_EVENT, { event: "usage", snapshot }));
    await waitFor(() => expect(client.getQueryData(usageKey("acc"))).toEqual(snapshot));
    fireEvent.click(button);
    expect(screen.getByRole("dialog").textContent).toContain("deploy bot has not been used for 31 days.");
  });

  it("tells the person about a rotation resumed at start", async () => {
    status.pending = [
      {
        rotation_id: "r1",
        account_id: "acc",
        old_key_id: "k1",
        old_key_name: "deploy bot",
        new_key_id: null,
        step: "verify",
        step_done: false,
        started_at: "2026-01-01T00:00:00Z",
        last_error: null,
      },
    ];
    render(
      <QueryClientProvider client={client}>
        <RotationBanner />
      </QueryClientProvider>,
    );
    const banner = await screen.findByTestId("rotation-banner");
    expect(banner.textContent).toContain("The rotation of deploy bot is unfinished");
  });
});
