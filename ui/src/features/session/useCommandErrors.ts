import { useEffect } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { toIpcError } from "../../ipc";

type Handlers = {
  /** A command failed because the active profile is locked (auto-lock, or another window). */
  onLocked: () => void;
  /** A command for this account failed because its session expired or was revoked. */
  onSessionExpired: (accountId: string) => void;
};

/** The account a query key or mutation variables are about: `["keys", id]` or `{ account_id }`. */
export function accountOf(value: unknown): string | null {
  if (Array.isArray(value)) {
    for (const part of value) {
      const found = accountOf(part);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === "object" && "account_id" in value) {
    const id = (value as { account_id: unknown }).account_id;
    return typeof id === "string" ? id : null;
  }
  return null;
}

function accountOfKey(key: readonly unknown[]): string | null {
  // Feature hooks key per-account data as [name, accountId, ...].
  if (typeof key[1] === "string" && key[0] !== "app-status" && key[0] !== "profiles") return key[1];
  return accountOf(key);
}

/**
 * Watches every query and mutation: `locked` shows the unlock screen, `unauthorized` for an
 * account shows "Sign in again" in place for it. Components need not know about either.
 */
export function useCommandErrors({ onLocked, onSessionExpired }: Handlers) {
  const queryClient = useQueryClient();
  useEffect(() => {
    const handle = (error: unknown, account: string | null) => {
      const e = toIpcError(error);
      if (e.code === "locked") onLocked();
      else if (e.code === "unauthorized" && account) onSessionExpired(account);
    };
    const offQueries = queryClient.getQueryCache().subscribe((event) => {
      if (event.type === "updated" && event.action.type === "error") {
        handle(event.action.error, accountOfKey(event.query.queryKey));
      }
    });
    const offMutations = queryClient.getMutationCache().subscribe((event) => {
      if (event.type === "updated" && event.action.type === "error") {
        handle(event.action.error, accountOf(event.mutation.state.variables));
      }
    });
    return () => {
      offQueries();
      offMutations();
    };
  }, [queryClient, onLocked, onSessionExpired]);
}
