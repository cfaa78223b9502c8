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
  /** The filter box's change reached the keys view (its input event, before the render). */
  filterInput: "keyhaven:filter-input",
  /** The keys table committed a new set of rows to the DOM: its first render, a filter, a sort. */
  rowsCommit: "keyhaven:keys-table-rows",
  /** The frame that shows those rows began: its animation-frame callbacks ran (style, layout and paint follow). */
  rowsFrameStart: "keyhaven:keys-table-rows-frame-start",
  /** The frame that shows those rows was rendered (see `markAfterNextFrame`). */
  rowsFrame: "keyhaven:keys-table-rows-frame",
} as const;

export function mark(name: string): void {
  globalThis.performance?.mark?.(name);
}

/**
 * Marks `name` once the next frame has been rendered: a task queued from the next animation frame
 * runs after that frame's style, layout and paint. `start`, if given, is marked as the frame begins.
 */
export function markAfterNextFrame(name: string, start?: string): void {
  if (typeof requestAnimationFrame !== "function" || typeof MessageChannel !== "function") return;
  requestAnimationFrame(() => {
    if (start) mark(start);
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      mark(name);
      channel.port1.close();
    };
    channel.port2.postMessage(null);
  });
}
