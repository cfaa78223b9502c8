import { describe, expect, it } from "vitest";
import { relativeTime, serviceLabel } from "./format";

describe("relativeTime", () => {
  const now = new Date("2026-01-01T12:00:00Z");
  it("says never for a missing time", () => {
    expect(relativeTime(null, now)).toBe("never");
  });
  it("describes the past and the future", () => {
    expect(relativeTime("2026-01-01T11:57:00Z", now)).toBe("3 minutes ago");
    expect(relativeTime("2026-01-03T12:00:00Z", now)).toBe("in 2 days");
    expect(relativeTime("2026-01-01T12:00:00Z", now)).toBe("just now");
  });
  it("shows a dash for a malformed time", () => {
    expect(relativeTime("not a time", now)).toBe("—");
  });
});

describe("serviceLabel", () => {
  it("shows the host of a URL", () => {
    expect(serviceLabel("https://keys.example.com/")).toBe("keys.example.com");
    expect(serviceLabel(null)).toBe("Local service");
  });
});
