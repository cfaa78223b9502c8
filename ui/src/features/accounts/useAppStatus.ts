import { useQuery } from "@tanstack/react-query";
import { commands } from "../../ipc";

export const appStatusKey = ["app-status"] as const;

export function useAppStatus() {
  return useQuery({ queryKey: appStatusKey, queryFn: () => commands.appStatus() });
}
