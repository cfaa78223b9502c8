import { afterEach, describe, expect, it } from "vitest";
import { ISOLATION_FRAME_ID, labelIsolationFrame } from "./isolationFrame";

function addFrame() {
  const frame = document.createElement("iframe");
  frame.id = ISOLATION_FRAME_ID;
  document.body.append(frame);
  return frame;
}

describe("Tauri's isolation frame", () => {
  afterEach(() => document.getElementById(ISOLATION_FRAME_ID)?.remove());

  it("is labelled and kept out of the accessibility tree and the tab order when already there", () => {
    const frame = addFrame();
    labelIsolationFrame();
    expect(frame.getAttribute("title")).toMatch(/isolation/);
    expect(frame.getAttribute("aria-hidden")).toBe("true");
    expect(frame.tabIndex).toBe(-1);
  });

  it("is labelled when Tauri adds it after the app started", async () => {
    const stop = labelIsolationFrame();
    const frame = addFrame();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(frame.getAttribute("aria-hidden")).toBe("true");
    expect(frame.tabIndex).toBe(-1);
    stop();
  });
});
