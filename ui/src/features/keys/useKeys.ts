import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { commands, type KeyView } from "../../ipc";

export const keysKey = (accountId: string) => ["keys", accountId] as const;

export function useKeys(accountId: string) {
  return useQuery({ queryKey: keysKey(accountId), queryFn: () => commands.listKeys({ account_id: accountId }) });
}

export function useRevokeKey(accountId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (keyId: string) => commands.revokeKey({ account_id: accountId, key_id: keyId }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keysKey(accountId) }),
  });
}

/** Keys whose name, prefix, scope or status contains the filter text (case-insensitive). */
export function filterKeys(keys: KeyView[], filter: string): KeyView[] {
  const needle = filter.trim().toLowerCase();
  if (!needle) return keys;
  return keys.filter(({ meta }) =>
    [meta.name, meta.prefix, meta.status, ...meta.scopes].some((field) => field.toLowerCase().includes(needle)),
  );
}

/** Active keys first, then the newest. */
export function sortKeys(keys: KeyView[]): KeyView[] {
  const rank = (s: string) => (s === "active" ? 0 : s === "expiring" ? 1 : 2);
  return [...keys].sort(
    (a, b) => rank(a.meta.status) - rank(b.meta.status) || b.meta.created_at.localeCompare(a.meta.created_at),
  );
}
