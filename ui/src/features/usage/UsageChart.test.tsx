import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import type { UsagePoint } from "../../ipc";
import { UsageChart } from "./UsageChart";
import { niceMax, summary } from "./chart";

afterEach(cleanup);

const point = (t: string, allowed: number, denied: Record<string, number> = {}) => ({ t, allowed, denied }) as unknown as UsagePoint;

const SERIES = [
  point("2026-01-01T10:00:00Z", 4),
  point("2026-01-01T11:00:00Z", 0),
  point("2026-01-01T12:00:00Z", 10, { rate_limited: 3, origin_not_allowed: 1 }),
];

describe("UsageChart", () => {
  it("draws one accepted bar per bucket and stacks refused calls, scaled to the largest", () => {
    const { container } = render(<UsageChart series={SERIES} granularity="hour" title="Usage" />);
    const allowed = [...container.querySelectorAll("rect.bar.allowed")];
    expect(allowed.map((r) => r.getAttribute("data-value"))).toEqual(["4", "0", "10"]);
    const denied = [...container.querySelectorAll("rect.bar.denied")];
    expect(denied.map((r) => r.getAttribute("data-value"))).toEqual(["4"]);
    // Heights follow the values: 10 accepted is two and a half times 4.
    const h = allowed.map((r) => Number(r.getAttribute("height")));
    expect(h[1]).toBe(0);
    expect(h[2] / h[0]).toBeCloseTo(2.5);
  });

  it("is one labelled image with a summary, and the same numbers as a table", () => {
    render(<UsageChart series={SERIES} granularity="hour" title="deploy bot" />);
    const img = screen.getByRole("img");
    const label = img.getAttribute("aria-label") ?? "";
    expect(label).toContain("deploy bot");
    expect(label).toContain("14 calls accepted and 4 refused over 3 hours");
    expect(label).toContain("3 rate_limited");
    const table = screen.getByRole("table", { hidden: true });
    expect(table.querySelectorAll("tbody tr")).toHaveLength(3);
    expect(table.textContent).toContain("rate_limited 3");
  });

  it("says there is no usage instead of drawing an empty chart", () => {
    const { container } = render(<UsageChart series={[]} granularity="day" />);
    expect(screen.getByRole("status").textContent).toContain("No usage recorded");
    expect(container.querySelector("svg")).toBeNull();
  });

  it("rounds the scale up and sums up an empty series", () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(14)).toBe(20);
    expect(niceMax(230)).toBe(250);
    expect(summary([], "hour")).toBe("No usage recorded.");
  });
});
