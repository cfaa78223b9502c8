import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { FoundKey, KeySearch as Found } from "../../ipc";
import { meta } from "../keys/testing";
import { KeySearch } from "./KeySearch";

afterEach(() => {
  cleanup();
  clearMocks();
});

const found = (account: string, label: string, name: string, prefix: string): FoundKey => ({
  account_id: account,
  account_label: label,
  key: { meta: { ...meta(), id: `${account}-${name}`, name, prefix }, stored_locally: true },
});

describe("KeySearch", () => {
  it("searches every account as one types, and opens the key chosen by keyboard", async () => {
    const asked: string[] = [];
    const answer: Found = {
      found: [found("a1", "ann@example.com @ keys", "deploy bot", "kh_live_AbCd"), found("a2", "AniKura · work", "deploy cron", "ak_live_Wxyz")],
      unread: [{ account_id: "a3", reason: { code: "unauthorized", message: "Sign in again" } }],
    };
    mockIPC((cmd, args) => {
      if (cmd === "find_keys") {
        asked.push((args as { req: { text: string } }).req.text);
        return answer;
      }
      return null;
    });
    const onOpen = vi.fn();
    render(<KeySearch onOpen={onOpen} />);
    const box = screen.getByRole("combobox", { name: "Find a key in every account" });
    fireEvent.focus(box);
    fireEvent.change(box, { target: { value: "dep" } });
    fireEvent.change(box, { target: { value: "depl" } });
    expect(await screen.findByText("deploy cron")).toBeTruthy();
    expect(asked).toEqual(["depl"]); // one search once typing paused
    expect(screen.getByText("AniKura · work")).toBeTruthy();
    expect(screen.getByText(/Not searched: a3 \(Sign in again\)/)).toBeTruthy();
    fireEvent.keyDown(box, { key: "ArrowDown" });
    expect(screen.getByRole("option", { selected: true }).textContent).toContain("deploy cron");
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onOpen).toHaveBeenCalledWith(answer.found[1]);
    expect((box as HTMLInputElement).value).toBe("");
  });

  it("says when nothing matches and shows the core's refusal", async () => {
    mockIPC((cmd) => (cmd === "find_keys" ? { found: [], unread: [] } : null));
    render(<KeySearch onOpen={() => undefined} />);
    const box = screen.getByRole("combobox");
    fireEvent.focus(box);
    fireEvent.change(box, { target: { value: "nothing" } });
    expect(await screen.findByText("No key has that name or prefix.")).toBeTruthy();
    mockIPC(() => {
      throw { code: "validation", message: "Invalid query: give 1 to 100 characters" };
    });
    fireEvent.change(box, { target: { value: "x".repeat(101) } });
    await waitFor(() => expect(screen.getByText(/Invalid query/)).toBeTruthy());
  });
});
