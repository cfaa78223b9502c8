import { useId } from "react";
import type { UsagePoint } from "../../ipc";
import { bars, bucketLabel, deniedByReason, niceMax, summary, type Granularity } from "./chart";

type Props = { series: UsagePoint[]; granularity: Granularity; title?: string };

const WIDTH = 800;
const HEIGHT = 180;
const PAD_LEFT = 40;
const PAD_BOTTOM = 22;
const PAD_TOP = 8;

/**
 * Calls per hour or day as SVG bars: accepted calls, with refused ones stacked on top. The SVG is
 * one image to assistive technology (`role="img"`, labelled with a summary of the data); the same
 * numbers are in a table below it for anyone who wants them exactly.
 */
export function UsageChart({ series, granularity, title = "Usage" }: Props) {
  const tableId = useId();
  if (series.length === 0) {
    return (
      <div className="chart-empty" role="status">
        No usage recorded for this period.
      </div>
    );
  }
  const data = bars(series);
  const max = niceMax(Math.max(...data.map((b) => b.allowed + b.denied)));
  const plotW = WIDTH - PAD_LEFT;
  const plotH = HEIGHT - PAD_TOP - PAD_BOTTOM;
  const slot = plotW / data.length;
  const barW = Math.max(1, slot * 0.72);
  const y = (n: number) => (n / max) * plotH;
  const labelEvery = Math.max(1, Math.ceil(data.length / 8));
  const reasons = deniedByReason(series);
  return (
    <figure className="usage-chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`${title}: ${summary(series, granularity)}`}
        aria-describedby={tableId}
      >
        {[0, 0.5, 1].map((f) => (
          <g key={f} aria-hidden="true">
            <line className="grid" x1={PAD_LEFT} x2={WIDTH} y1={PAD_TOP + plotH - f * plotH} y2={PAD_TOP + plotH - f * plotH} />
            <text className="axis" x={PAD_LEFT - 6} y={PAD_TOP + plotH - f * plotH + 4} textAnchor="end">
              {(max * f).toLocaleString("en", { maximumFractionDigits: 1 })}
            </text>
          </g>
        ))}
        {data.map((b, i) => {
          const x = PAD_LEFT + i * slot + (slot - barW) / 2;
          const hA = y(b.allowed);
          const hD = y(b.denied);
          const base = PAD_TOP + plotH;
          return (
            <g key={b.t} data-bucket={b.t}>
              <title>{`${bucketLabel(b.t, granularity)}: ${b.allowed} accepted, ${b.denied} refused`}</title>
              <rect className="bar allowed" data-value={b.allowed} x={x} y={base - hA} width={barW} height={hA} />
              {b.denied > 0 && <rect className="bar denied" data-value={b.denied} x={x} y={base - hA - hD} width={barW} height={hD} />}
              {i % labelEvery === 0 && (
                <text className="axis" x={x + barW / 2} y={HEIGHT - 6} textAnchor="middle" aria-hidden="true">
                  {granularity === "hour" ? `${String(new Date(b.t).getUTCHours()).padStart(2, "0")}h` : b.t.slice(5, 10)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        <span className="swatch allowed" aria-hidden="true" /> accepted
        <span className="swatch denied" aria-hidden="true" /> refused
        {reasons.length > 0 && (
          <span className="muted"> — refused by reason: {reasons.map(([r, n]) => `${r} ${n.toLocaleString("en")}`).join(", ")}</span>
        )}
      </figcaption>
      <details className="chart-table">
        <summary>Show as a table</summary>
        <table id={tableId} aria-label={`${title} by ${granularity}`}>
          <thead>
            <tr>
              <th scope="col">{granularity === "hour" ? "Hour" : "Day"}</th>
              <th scope="col">Accepted</th>
              <th scope="col">Refused</th>
              <th scope="col">Refused by reason</th>
            </tr>
          </thead>
          <tbody>
            {data.map((b) => (
              <tr key={b.t}>
                <td>{bucketLabel(b.t, granularity)}</td>
                <td className="num">{b.allowed.toLocaleString("en")}</td>
                <td className="num">{b.denied.toLocaleString("en")}</td>
                <td>
                  {Object.entries(b.reasons)
                    .map(([r, n]) => `${r} ${n}`)
                    .join(", ")}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
