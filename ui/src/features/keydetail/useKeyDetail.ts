import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { commands, type KeyMeta, type UpdateKeyInput } from "../../ipc";
import { keysKey } from "../keys/useKeys";

export type Granularity = "hour" | "day";

export const keyKey = (accountId: string, keyId: string) => ["key", accountId, keyId] as const;
export const keyUsageKey = (accountId: string, keyId: string, g: Granularity) => ["key-usage", accountId, keyId, g] as const;
export const denialsKey = (accountId: string, keyId: string) => ["key-denials", accountId, keyId] as const;
export const envReferencesKey = (accountId: string, key: KeyMeta) =>
  ["env-references", accountId, key.id, key.name, key.replaced_by] as const;
export const capabilitiesKey = (accountId: string) => ["capabilities", accountId] as const;

/** How often an open key detail reads its usage again. */
const USAGE_POLL_MS = 30_000;

/** The key's metadata, read again as often as its usage, so that "last used" and the status
 * keep up with the chart beside them. */
export function useKey(accountId: string, keyId: string) {
  return useQuery({
    queryKey: keyKey(accountId, keyId),
    queryFn: () => commands.getKey({ account_id: accountId, key_id: keyId }),
    refetchInterval: USAGE_POLL_MS,
  });
}

export function useKeyUsage(accountId: string, keyId: string, granularity: Granularity, enabled = true) {
  return useQuery({
    enabled,
    queryKey: keyUsageKey(accountId, keyId, granularity),
    queryFn: () => commands.keyUsage({ account_id: accountId, key_id: keyId, granularity }),
    refetchInterval: USAGE_POLL_MS,
  });
}

export function useDenials(accountId: string, keyId: string, enabled = true) {
  return useQuery({
    enabled,
    queryKey: denialsKey(accountId, keyId),
    queryFn: () => commands.keyDenials({ account_id: accountId, key_id: keyId }),
    refetchInterval: USAGE_POLL_MS,
  });
}

/** The env files known to reference the key: recorded on this computer by `keyhaven run
 * --env-file` and `keyhaven env import`, so read again as often as the usage. Matched on this
 * computer against the key as the detail shows it (no call to the service). */
export function useEnvReferences(accountId: string, key: KeyMeta) {
  return useQuery({
    queryKey: envReferencesKey(accountId, key),
    queryFn: () => commands.envReferences({ account_id: accountId, key }),
    refetchInterval: USAGE_POLL_MS,
  });
}

export function useCapabilities(accountId: string) {
  return useQuery({ queryKey: capabilitiesKey(accountId), queryFn: () => commands.keyCapabilities({ account_id: accountId }) });
}

export function useUpdateKey(accountId: string, keyId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (req: Omit<UpdateKeyInput, "account_id" | "key_id">) =>
      commands.updateKey({ ...req, account_id: accountId, key_id: keyId }),
    onSuccess: (meta) => queryClient.setQueryData(keyKey(accountId, keyId), meta),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keysKey(accountId) }),
  });
}
