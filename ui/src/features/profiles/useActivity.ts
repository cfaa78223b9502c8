import { useEffect } from "react";
import { commands } from "../../ipc";

/** At most one `touch_activity` per this many milliseconds. */
export const TOUCH_EVERY_MS = 10_000;

/**
 * Tells the core the person is active (keys, clicks, wheel), at most every ten seconds, so that
 * auto-lock counts only idle time. Background polling never calls this.
 */
export function useActivity(enabled: boolean) {
  useEffect(() => {
    if (!enabled) return;
    let last = 0;
    const onActivity = () => {
      const now = Date.now();
      if (now - last < TOUCH_EVERY_MS) return;
      last = now;
      commands.touchActivity().catch(() => undefined);
    };
    const events = ["keydown", "pointerdown", "wheel"] as const;
    for (const e of events) window.addEventListener(e, onActivity, { passive: true, capture: true });
    return () => {
      for (const e of events) window.removeEventListener(e, onActivity, { capture: true });
    };
  }, [enabled]);
}
