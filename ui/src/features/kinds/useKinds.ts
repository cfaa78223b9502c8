// The kinds of service, as the core's table describes them (label, documented host, where keys
// are made, key prefixes): the UI keeps no list of its own.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { commands, type Account, type ConnectorKind, type KeyCheck, type KindInfo, type Verdict } from "../../ipc";
import { keysKey } from "../keys/useKeys";

export const kindsKey = ["kinds"] as const;

/** The core's kinds table; it does not change while the app runs. */
export function useKinds() {
  return useQuery({ queryKey: kindsKey, queryFn: () => commands.kinds(), staleTime: Infinity, gcTime: Infinity });
}

export function kindInfo(kinds: readonly KindInfo[] | undefined, kind: ConnectorKind): KindInfo | undefined {
  return kinds?.find((k) => k.kind === kind);
}

/** The name of an account's service when it is not Keyhaven's own: "TokenKit", "AniKura", … */
export function serviceName(account: Account, kinds: readonly KindInfo[] | undefined): string | null {
  if (account.connector === "native") return null;
  return kindInfo(kinds, account.connector)?.label ?? null;
}

/**
 * The kinds whose documented prefix a pasted secret starts with (the core's `suggest_kinds`, on
 * the prefixes it gives): `ak_live_` is both AniKura's and Ananke Labs', so the person is asked.
 * Only kinds keys are imported into are named: those not signed in to, and `alsoImported` (the
 * kinds of signed-in accounts whose keys are imported, such as Animus).
 */
export function suggestKinds(kinds: readonly KindInfo[], secret: string, alsoImported: readonly ConnectorKind[] = []): KindInfo[] {
  const text = secret.trimStart();
  if (text === "") return [];
  return kinds.filter((k) => (!k.signs_in || alsoImported.includes(k.kind)) && k.key_prefixes.some((p) => text.startsWith(p)));
}

/** How a check's verdict is named where a key is shown. */
export const VERDICT_LABEL: Record<Verdict, string> = {
  works: "works",
  refused: "refused (broken)",
  limited: "limited",
  unknown: "could not tell",
};

/** Checks a held key with its service now; the list then shows the new check. */
export function useCheckKey(accountId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (keyId: string): Promise<KeyCheck> => commands.checkKey({ account_id: accountId, key_id: keyId }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keysKey(accountId) }),
  });
}

/** Forgets an imported key here (record and secret); the service's page deletes it there. */
export function useForgetKey(accountId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (keyId: string) => commands.forgetKey({ account_id: accountId, key_id: keyId }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keysKey(accountId) }),
  });
}
