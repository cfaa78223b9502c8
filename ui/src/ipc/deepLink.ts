// The deep-link plugin's two entry points, typed: the link the app was started with, and links
// forwarded later by a second launch (tauri-plugin-single-instance hands them to the running app,
// which emits them). Both give raw strings; features/deeplink/parse.ts decides what they mean.
//
// These are the same calls `@tauri-apps/plugin-deep-link` makes; they live here, in the one IPC
// folder, rather than as one more npm package that would have to track the Rust plugin's version.
//
// The forwarded links' event and its listener are generated with the other events (events.ts).
import { invoke } from "@tauri-apps/api/core";

export { DEEP_LINK_EVENT, onDeepLink } from "./events";

/** The link(s) the app was launched with, if any. */
export async function launchDeepLinks(): Promise<string[]> {
  const urls = await invoke<string[] | null>("plugin:deep-link|get_current");
  return urls ?? [];
}
