import { useEffect, useRef } from "react";
import { launchDeepLinks, onDeepLink } from "../../ipc/deepLink";

/**
 * Calls `onLink` with each `keyhaven://` link: the one the app was started with, once, and each
 * one a later launch forwards. Outside the app (tests, a browser) there are none.
 */
export function useDeepLinks(onLink: (url: string) => void) {
  const handler = useRef(onLink);
  handler.current = onLink;

  useEffect(() => {
    let stopped = false;
    let unlisten: (() => void) | undefined;
    const deliver = (urls: string[]) => {
      // A launch carries one link; if several come, the last one wins.
      const last = urls[urls.length - 1];
      if (!stopped && typeof last === "string") handler.current(last);
    };
    onDeepLink(deliver)
      .then((fn) => {
        if (stopped) fn();
        else unlisten = fn;
      })
      .catch(() => undefined);
    launchDeepLinks()
      .then(deliver)
      .catch(() => undefined);
    return () => {
      stopped = true;
      unlisten?.();
    };
  }, []);
}
