// Guided rotations (keys made on their service's own page): the ones in progress survive
// closing the window, so the key detail and the keys view read them to offer "continue".
import { useQuery } from "@tanstack/react-query";
import { commands, type GuidedView } from "../../ipc";

export const guidedKey = ["guided-rotations"] as const;

export function useGuidedRotations() {
  return useQuery({ queryKey: guidedKey, queryFn: () => commands.guidedRotations() });
}

/** The guided rotation in progress for a key, as its old key. */
export function pendingFor(all: readonly GuidedView[] | undefined, accountId: string, keyId: string): GuidedView | undefined {
  return all?.find((g) => g.rotation.account_id === accountId && g.rotation.old_key_id === keyId);
}
