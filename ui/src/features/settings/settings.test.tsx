import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { SettingsDialog } from "./SettingsDialog";
import { checkSettings } from "./validation";

afterEach(() => {
  cleanup();
  clearMocks();
});

const ok = {
  poll: "60",
  notifications: true,
  clipboard: "30",
  autoLockMinutes: "15",
  keyChecks: false,
  keyCheckMinutes: "60",
  keyChecksAnikura: false,
  keepWatchingInTray: false,
};

describe("checkSettings", () => {
  it("accepts values in range and converts minutes to seconds", () => {
    const c = checkSettings(ok);
    expect(c.errors).toEqual({});
    expect(c.auto_lock_seconds).toBe(900);
    expect(checkSettings({ ...ok, autoLockMinutes: "0" }).auto_lock_seconds).toBeNull();
  });

  it("names each field that is out of range or not a whole number", () => {
    expect(checkSettings({ ...ok, poll: "9" }).errors.poll).toMatch(/10 to 3600/);
    expect(checkSettings({ ...ok, poll: "1.5" }).errors.poll).toBeTruthy();
    expect(checkSettings({ ...ok, clipboard: "601" }).errors.clipboard).toMatch(/5 to 600/);
    expect(checkSettings({ ...ok, clipboard: "" }).errors.clipboard).toBeTruthy();
    expect(checkSettings({ ...ok, autoLockMinutes: "20000" }).errors.autoLockMinutes).toMatch(/7 days/);
    expect(checkSettings({ ...ok, autoLockMinutes: "-1" }).errors.autoLockMinutes).toBeTruthy();
    expect(checkSettings({ ...ok, keyCheckMinutes: "14" }).errors.keyCheckMinutes).toMatch(/15 to 1440/);
  });
});

describe("SettingsDialog", () => {
  it("shows the profile's settings, refuses a bad value, and saves good ones", async () => {
    const calls: { cmd: string; args: unknown }[] = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      if (cmd === "get_settings")
        return {
          poll_interval_seconds: 60,
          notifications: true,
          clipboard_clear_seconds: 30,
          key_checks: false,
          key_check_interval_minutes: 60,
          key_checks_anikura: false,
          keep_watching_in_tray: false,
        };
      if (cmd === "save_settings") return (args as { req: unknown }).req;
      return null;
    });
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={client}>
        <SettingsDialog
          profile={{ name: "ann", active: true, has_passphrase: true, locked: false, auto_lock_seconds: 900 }}
          onClose={() => undefined}
        />
      </QueryClientProvider>,
    );
    const clipboard = (await screen.findByLabelText(/Clear copied secrets after/)) as HTMLInputElement;
    expect(clipboard.value).toBe("30");
    fireEvent.change(clipboard, { target: { value: "2" } });
    expect(screen.getByText(/from 5 to 600/)).toBeTruthy();
    expect((screen.getByRole("button", { name: "Save" }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(clipboard, { target: { value: "45" } });
    fireEvent.change(screen.getByLabelText(/Lock after idle/), { target: { value: "5" } });
    // Broken-key checks: off until turned on; then their interval is asked.
    const every = screen.getByLabelText(/Check each key every/) as HTMLInputElement;
    expect(every.disabled).toBe(true);
    fireEvent.click(screen.getByLabelText(/Check imported keys now and then/));
    expect(every.disabled).toBe(false);
    fireEvent.change(every, { target: { value: "120" } });
    fireEvent.click(screen.getByLabelText(/Keep watching usage in the tray/));
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(calls.map((c) => c.cmd)).toContain("set_auto_lock"));
    expect(calls.find((c) => c.cmd === "save_settings")?.args).toEqual({
      req: {
        poll_interval_seconds: 60,
        notifications: true,
        clipboard_clear_seconds: 45,
        key_checks: true,
        key_check_interval_minutes: 120,
        key_checks_anikura: false,
        keep_watching_in_tray: true,
      },
    });
    expect(calls.find((c) => c.cmd === "set_auto_lock")?.args).toEqual({ req: { seconds: 300 } });
  });
});
