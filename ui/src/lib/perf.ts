/**
 * Named points in time for the app benchmark (`scripts/bench-app`), which reads them with
 * `performance.getEntriesByName`. A mark costs next to nothing and holds no data; where the page
 * has no User Timing (some test environments), it does nothing.
 */
export const MARKS = {
  /** The page asked Rust for an account's keys. */
  keysRequest: "keyhaven:keys-request",
  /** The keys of an account arrived from Rust (the IPC call resolved). */
  keysData: "keyhaven:keys-data",
  /** The keys table was first committed to the DOM (layout effect of its first render). */
  tableCommit: "keyhaven:keys-table-commit",
  /** The frame holding the first table render was painted (two animation frames after commit). */
  tableFrame: "keyhaven:keys-table-frame",
} as const;

export function mark(name: string): void {
  globalThis.performance?.mark?.(name);
}
