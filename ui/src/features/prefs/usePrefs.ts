import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type UiPrefs } from "../../ipc";
import { DEFAULT_PREFS, cleanPrefs, mergePrefs, samePrefs } from "./prefs";

/**
 * One entry per profile: one profile's preferences are never shown, or saved, as another's. (The
 * profile is in an object so that the key does not read as an account's, see useCommandErrors.)
 */
export const uiPrefsKey = (profile: string) => ["ui-prefs", { profile }] as const;

/** How long the window waits after the last change before it saves: a drag or a run of key presses is one save. */
export const SAVE_DELAY_MS = 400;

/**
 * A profile's preferences as the window holds them. `kept` is false when they could not be read:
 * the defaults stand then, and changes are shown but not saved, as they would overwrite what the
 * profile kept.
 */
type Held = { prefs: UiPrefs; kept: boolean };

type Patch = Partial<UiPrefs> | ((prefs: UiPrefs) => Partial<UiPrefs>);

export type PrefsStore = {
  /** The active profile's preferences; the defaults until they are read, or if they cannot be. */
  prefs: UiPrefs;
  /** Whether the profile's preferences were read, or could not be (the defaults then stand). */
  settled: boolean;
  /** Lays a change over the preferences now and saves the whole of them a moment later. */
  update: (patch: Patch) => void;
  /** Sends a save that is still waiting, and waits for it; before the active profile changes. */
  flush: () => Promise<void>;
};

/**
 * The active profile's window preferences: read once per profile (a later refresh of every
 * cached answer keeps the window's own copy, the newest), changed in place, saved whole and
 * debounced. A save that fails leaves a warning in the console and nothing else.
 *
 * `profile` is the name the app status gives; `enabled` is false while that status is read again,
 * so that after a switch nothing is read under the old profile's name (the Rust side answers for
 * the profile active there, whichever it is).
 */
export function usePrefsStore(profile: string | null, enabled = true): PrefsStore {
  const queryClient = useQueryClient();
  const query = useQuery({
    queryKey: uiPrefsKey(profile ?? ""),
    queryFn: async (): Promise<Held> => {
      // The window is the only one to change them: once read, its own copy is the newest, and a
      // refresh of every cached answer must not take back a change still waiting to be saved.
      const held = queryClient.getQueryData<Held>(uiPrefsKey(profile ?? ""));
      if (held) return held;
      try {
        return { prefs: cleanPrefs(await commands.uiPrefs()), kept: true };
      } catch {
        return { prefs: DEFAULT_PREFS, kept: false };
      }
    },
    enabled: profile !== null && enabled,
    staleTime: Infinity,
  });
  // A change is drawn in the event that made it (the query's own notice comes a tick later), so
  // that a second key press already starts from the first one's width.
  const [, changed] = useReducer((n: number) => n + 1, 0);

  const current = useRef(profile);
  current.current = profile;
  const pending = useRef<{ profile: string; prefs: UiPrefs } | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  // Saves are sent one after the other, so that an older one never lands after a newer one.
  const saving = useRef<Promise<void>>(Promise.resolve());

  const flush = useCallback(() => {
    if (timer.current !== null) clearTimeout(timer.current);
    timer.current = null;
    const save = pending.current;
    pending.current = null;
    // The Rust side saves for the profile active there: a save made for another one is dropped.
    if (save && save.profile === current.current) {
      saving.current = saving.current.then(() =>
        commands.saveUiPrefs(save.prefs).then(
          () => undefined,
          (err) => {
            const { code, field } = toIpcError(err);
            console.warn(`The window's preferences were not saved (${code}${field ? `, ${field}` : ""}).`);
          },
        ),
      );
    }
    return saving.current;
  }, []);

  const update = useCallback(
    (patch: Patch) => {
      if (profile === null) return;
      const key = uiPrefsKey(profile);
      const held = queryClient.getQueryData<Held>(key) ?? { prefs: DEFAULT_PREFS, kept: false };
      const prefs = mergePrefs(held.prefs, typeof patch === "function" ? patch(held.prefs) : patch);
      if (samePrefs(prefs, held.prefs)) return;
      queryClient.setQueryData<Held>(key, { prefs, kept: held.kept });
      changed();
      if (!held.kept) return;
      pending.current = { profile, prefs };
      if (timer.current !== null) clearTimeout(timer.current);
      timer.current = setTimeout(() => void flush(), SAVE_DELAY_MS);
    },
    [profile, queryClient, flush],
  );

  // A save still waiting when the window goes is sent at once.
  useEffect(() => {
    const onHide = () => void flush();
    window.addEventListener("pagehide", onHide);
    return () => {
      window.removeEventListener("pagehide", onHide);
      void flush();
    };
  }, [flush]);

  const held = (profile === null ? undefined : queryClient.getQueryData<Held>(uiPrefsKey(profile))) ?? query.data;
  const prefs = held?.prefs ?? DEFAULT_PREFS;
  const settled = profile !== null && held !== undefined;
  return useMemo(() => ({ prefs, settled, update, flush }), [prefs, settled, update, flush]);
}

export const PrefsContext = createContext<PrefsStore | null>(null);

type Setter<T> = (value: T | ((previous: T) => T)) => void;

/**
 * One preference and its setter, like `useState`. Outside a `PrefsContext` (a view rendered on
 * its own, in a test) it is plain state that is not kept.
 */
export function usePref<K extends keyof UiPrefs>(key: K): [UiPrefs[K], Setter<UiPrefs[K]>] {
  const store = useContext(PrefsContext);
  const [own, setOwn] = useState<UiPrefs[K]>(DEFAULT_PREFS[key]);
  const update = store?.update;
  const set = useCallback<Setter<UiPrefs[K]>>(
    (value) => {
      const next = (previous: UiPrefs[K]): UiPrefs[K] =>
        typeof value === "function" ? (value as (previous: UiPrefs[K]) => UiPrefs[K])(previous) : value;
      if (update) update((prefs) => ({ [key]: next(prefs[key]) }));
      else setOwn(next);
    },
    [update, key],
  );
  return [store ? store.prefs[key] : own, set];
}

/** Sends a preferences save still waiting (nothing to do outside a `PrefsContext`). */
export function useFlushPrefs(): () => Promise<void> {
  return useContext(PrefsContext)?.flush ?? noFlush;
}

const noFlush = async () => undefined;
