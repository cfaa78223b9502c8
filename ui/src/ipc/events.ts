// The shell's events, typed: each rotation step's progress and the usage watcher's events
// (src-tauri/ops_keys.rs emits them to the main window). Components subscribe through here.
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { RotationProgress, WatchEvent } from "./bindings";

/** Emitted for every step of a rotation, as it starts and ends. */
export const ROTATION_PROGRESS_EVENT = "rotation-progress";
/** Emitted for every event of the usage watcher (usage, alert, offline, online …). */
export const WATCH_EVENT = "usage-watch";

export function onRotationProgress(handler: (p: RotationProgress) => void): Promise<UnlistenFn> {
  return listen<RotationProgress>(ROTATION_PROGRESS_EVENT, (event) => handler(event.payload));
}

export function onWatchEvent(handler: (e: WatchEvent) => void): Promise<UnlistenFn> {
  return listen<WatchEvent>(WATCH_EVENT, (event) => handler(event.payload));
}
