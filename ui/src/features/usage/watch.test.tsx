import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import type { UsageSnapshot, WatchEvent, WatchStatus } from "../../ipc";
import { WATCH_EVENT } from "../../ipc/events";
import { AlertsButton, RotationBanner } from "./WatchBar";
import { useAccountUsage, useWatchEvents, usageKey } from "./useUsage";

let client: QueryClient;
let status: WatchStatus;
/** What `cached_usage` answers, and how often it was asked. */
let cached: UsageSnapshot | null = null;
let cachedReads = 0;

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  status = { settings: { poll_interval_seconds: 60, notifications: true, key_check_minutes: null, key_checks_anikura: false }, running: true, alerts: [], resumed: [], pending: [] };
  mockIPC(
    (cmd) => {
      if (cmd === "watch_status") return status;
      if (cmd === "cached_usage") {
        cachedReads += 1;
        return cached;
      }
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
    fireEvent.click(button);
    expect(screen.getByRole("dialog").textContent).toContain("deploy bot has not been used for 31 days.");
  });

  it("marks a key list stale when a broken-key alert comes, for its last check to show", async () => {
    render(
      <QueryClientProvider client={client}>
        <AlertsButton />
      </QueryClientProvider>,
    );
    await screen.findByRole("button", { name: "Alerts" });
    client.setQueryData(["keys", "acc"], []);
    client.setQueryData(["keys", "other"], []);
    const alert: WatchEvent = {
      event: "alert",
      alert: {
        id: "refused:acc:k1:1",
        account_id: "acc",
        key_id: "k1",
        key_name: "old script",
        severity: "critical",
        kind: { type: "key_refused", service: "WaniKani", key_page: "WaniKani's settings (API Tokens)" },
        message: "WaniKani refuses the key \"old script\".",
      },
    };
    await act(() => emit(WATCH_EVENT, alert));
    await waitFor(() => expect(client.getQueryState(["keys", "acc"])?.isInvalidated).toBe(true));
    expect(client.getQueryState(["keys", "other"])?.isInvalidated).toBe(false);
  });

  it("reads an account's usage again when the watcher says it is fresh, where it is shown", async () => {
    const usage = (calls: number): UsageSnapshot => ({
      account_id: "acc",
      tenant_id: "t",
      fetched_at: "2026-01-01T00:00:00Z",
      keys: [],
      calls_today: calls,
      daily: null,
    });
    cached = usage(3);
    function CallsToday() {
      useWatchEvents();
      const u = useAccountUsage("acc");
      return <p data-testid="calls">{u.data ? `${u.data.calls_today} calls` : "loading"}</p>;
    }
    render(
      <QueryClientProvider client={client}>
        <CallsToday />
      </QueryClientProvider>,
    );
    await waitFor(() => expect(screen.getByTestId("calls").textContent).toBe("3 calls"));
    cached = usage(8);
    const fresh: WatchEvent = { event: "usage", account_id: "acc", fetched_at: "2026-01-01T00:01:00Z" };
    await act(() => emit(WATCH_EVENT, fresh));
    await waitFor(() => expect(screen.getByTestId("calls").textContent).toBe("8 calls"));
    // Another account's fresh usage leaves this one alone.
    const reads = cachedReads;
    await act(() => emit(WATCH_EVENT, { event: "usage", account_id: "other", fetched_at: "2026-01-01T00:01:00Z" }));
    expect(cachedReads).toBe(reads);
    expect(client.getQueryState(usageKey("acc"))?.isInvalidated).toBe(false);
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
