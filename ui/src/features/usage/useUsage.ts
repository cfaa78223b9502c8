import { useEffect } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { commands, type Alert, type WatchStatus } from "../../ipc";
import { onWatchEvent } from "../../ipc/events";
import { keysKey } from "../keys/useKeys";

export const usageKey = (accountId: string) => ["usage", accountId] as const;
export const watchStatusKey = ["watch-status"] as const;

/** A fallback poll, in case the watcher's events stop (the watcher polls every minute itself). */
const USAGE_POLL_MS = 120_000;

/** The account's usage: the watcher's last snapshot, or one read now when there is none yet. */
export function useAccountUsage(accountId: string, enabled = true) {
  return useQuery({
    queryKey: usageKey(accountId),
    queryFn: async () => (await commands.cachedUsage({ account_id: accountId })) ?? commands.refreshUsage({ account_id: accountId }),
    refetchInterval: USAGE_POLL_MS,
    enabled,
  });
}

export function useWatchStatus() {
  return useQuery({ queryKey: watchStatusKey, queryFn: () => commands.watchStatus() });
}

/**
 * Feeds the usage watcher's events into the query cache: fresh usage marks an account's snapshot
 * stale (read again from the watcher's cache only where usage is on screen; the event does not
 * carry it); an alert joins the list. Mount once, near the root.
 */
export function useWatchEvents() {
  const queryClient = useQueryClient();
  useEffect(() => {
    let unlisten: (() => void) | undefined;
    let gone = false;
    void onWatchEvent((event) => {
      if (event.event === "usage") {
        void queryClient.invalidateQueries({ queryKey: usageKey(event.account_id) });
      } else if (event.event === "alert") {
        queryClient.setQueryData<WatchStatus>(watchStatusKey, (s) => (s ? { ...s, alerts: addAlert(s.alerts, event.alert) } : s));
        // A broken-key alert comes from a check the core recorded: the key's list shows it too.
        if (event.alert.kind.type === "key_refused") {
          void queryClient.invalidateQueries({ queryKey: keysKey(event.alert.account_id) });
        }
      }
    }).then((u) => {
      if (gone) u();
      else unlisten = u;
    });
    return () => {
      gone = true;
      unlisten?.();
    };
  }, [queryClient]);
}

export function addAlert(list: Alert[], alert: Alert): Alert[] {
  return [alert, ...list.filter((a) => a.id !== alert.id)].slice(0, 50);
}
