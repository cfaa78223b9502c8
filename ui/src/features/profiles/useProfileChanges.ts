import { useEffect } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { onProfileChanged } from "../../ipc/events";
import { refreshEverything } from "./useProfiles";

/**
 * Reads everything again when the tray's menu changed the profile behind the window's back
 * (switched, locked) or copied a key. Outside the app (tests, a browser) no such event comes.
 */
export function useProfileChanges() {
  const queryClient = useQueryClient();
  useEffect(() => {
    let stopped = false;
    let unlisten: (() => void) | undefined;
    onProfileChanged(() => void refreshEverything(queryClient))
      .then((fn) => {
        if (stopped) fn();
        else unlisten = fn;
      })
      .catch(() => undefined);
    return () => {
      stopped = true;
      unlisten?.();
    };
  }, [queryClient]);
}
