import { useQuery } from "@tanstack/react-query";
import { commands } from "../../ipc";

export const appStatusKey = ["app-status"] as const;

/** How often the status is read again while the profile's own local account is being made. */
export const PREPARING_POLL_MS = 300;

export function useAppStatus() {
  return useQuery({
    queryKey: appStatusKey,
    queryFn: () => commands.appStatus(),
    // The profile-changed event says when it is ready; reading again meanwhile covers an event
    // sent before the window listened.
    refetchInterval: (query) => (query.state.data?.local_service?.preparing ? PREPARING_POLL_MS : false),
  });
}
