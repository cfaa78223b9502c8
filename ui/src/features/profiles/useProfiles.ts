import { useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { commands } from "../../ipc";

export const profilesKey = ["profiles"] as const;

export function useProfiles() {
  return useQuery({ queryKey: profilesKey, queryFn: () => commands.listProfiles() });
}

/**
 * After anything that changes which profile is active or whether it is locked: every cached
 * answer is dropped and fetched again, so one profile never shows another's accounts or keys.
 */
export async function refreshEverything(queryClient: QueryClient) {
  queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== "app-status" && q.queryKey[0] !== "profiles" });
  await queryClient.invalidateQueries();
}

export function useRefreshEverything() {
  const queryClient = useQueryClient();
  return () => refreshEverything(queryClient);
}
