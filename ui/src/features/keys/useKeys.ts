import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { commands } from "../../ipc";
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

export function useRevokeKey(accountId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (keyId: string) => commands.revokeKey({ account_id: accountId, key_id: keyId }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keysKey(accountId) }),
  });
}
