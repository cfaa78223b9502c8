import { useMemo } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { commands, type KeyMeta, type KeyView } from "../../ipc";
import { MARKS, mark } from "../../lib/perf";

export const keysKey = (accountId: string) => ["keys", accountId] as const;

export function useKeys(accountId: string) {
  return useQuery({
    queryKey: keysKey(accountId),
    queryFn: async () => {
      mark(MARKS.keysRequest);
      const keys = await commands.listKeys({ account_id: accountId });
      mark(MARKS.keysData);
      return keys;
    },
  });
}

/** The account's listed keys by id, for naming a key's replacement or predecessor. */
export function useKeyIndex(accountId: string): Map<string, KeyMeta> {
  const keys = useKeys(accountId);
  return useMemo(() => indexKeys(keys.data), [keys.data]);
}

export function indexKeys(keys: KeyView[] | undefined): Map<string, KeyMeta> {
  return new Map((keys ?? []).map((k) => [k.meta.id, k.meta]));
}

/** How a related key is named where there is little room: its prefix, or its id if not listed. */
export function relatedKeyLabel(index: Map<string, KeyMeta>, id: string): string {
  const known = index.get(id);
  return known ? `${known.prefix}…` : id;
}

export function useRevokeKey(accountId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (keyId: string) => commands.revokeKey({ account_id: accountId, key_id: keyId }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keysKey(accountId) }),
  });
}
