import { describe, expect, it } from "vitest";
import { relativePast, relativeTime, serviceLabel } from "./format";

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
  it("keeps days up to 45 of them, then months and years", () => {
    const later = (seconds: number) => new Date(now.getTime() + seconds * 1000).toISOString();
    expect(relativeTime(later(30 * 86400), now)).toBe("in 30 days");
    expect(relativeTime(later(30 * 86400 + 5), now)).toBe("in 30 days");
    expect(relativeTime(later(30 * 86400 - 5), now)).toBe("in 30 days");
    expect(relativeTime(later(44 * 86400), now)).toBe("in 44 days");
    expect(relativeTime(later(90 * 86400), now)).toBe("in 3 months");
    expect(relativeTime(later(-60 * 86400), now)).toBe("2 months ago");
    expect(relativeTime(later(2 * 365 * 86400), now)).toBe("in 2 years");
    expect(relativeTime(later(90), now)).toBe("in 2 minutes");
    expect(relativeTime(later(-5 * 3600), now)).toBe("5 hours ago");
  });
  it("shows a dash for a malformed time", () => {
    expect(relativeTime("not a time", now)).toBe("—");
  });
});

describe("relativePast", () => {
  const now = new Date("2026-01-01T12:00:00Z");
  it("never puts what happened in the future", () => {
    expect(relativePast("2026-01-01T12:00:20Z", now)).toBe("just now");
    expect(relativePast("2026-01-01T12:10:00Z", now)).toBe("just now");
    expect(relativePast("2026-01-01T11:57:00Z", now)).toBe("3 minutes ago");
    expect(relativePast(null, now)).toBe("never");
  });
});

describe("serviceLabel", () => {
  it("shows the host of a URL", () => {
    expect(serviceLabel("https://keys.example.com/")).toBe("keys.example.com");
    expect(serviceLabel(null)).toBe("Local service");
  });
});
