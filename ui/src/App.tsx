import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type Account, type AppStatus, type FoundKey } from "./ipc";
import { ErrorNote } from "./components/ErrorNote";
import { Dialog } from "./components/Dialog";
import { AccountList } from "./features/accounts/AccountList";
import { SignInForm } from "./features/accounts/SignInForm";
import { appStatusKey, useAppStatus } from "./features/accounts/useAppStatus";
import { KeysView } from "./features/keys/KeysView";
import { linkAccount, parseDeepLink, type NewKeyPrefill } from "./features/deeplink/parse";
import { useDeepLinks } from "./features/deeplink/useDeepLinks";
import { ProfileSwitcher } from "./features/profiles/ProfileSwitcher";
import { UnlockScreen } from "./features/profiles/UnlockScreen";
import { useActivity } from "./features/profiles/useActivity";
import { profilesKey, useProfiles } from "./features/profiles/useProfiles";
import { useCommandErrors } from "./features/session/useCommandErrors";
import { Workspace, type WorkspaceTab } from "./features/session/Workspace";
import { UsageOverview } from "./features/usage/UsageOverview";
import { AlertsButton, RotationBanner } from "./features/usage/WatchBar";
import { KeySearch } from "./features/search/KeySearch";
import { PrefsContext, usePrefsStore } from "./features/prefs/usePrefs";
import { useProfileChanges } from "./features/profiles/useProfileChanges";

/** The account the window shows: the active one, or else the first. */
function shownAccount(s: AppStatus): Account | null {
  return s.accounts.find((a) => a.id === s.active_account_id) ?? s.accounts[0] ?? null;
}

export function App() {
  const status = useAppStatus();
  const [addingAccount, setAddingAccount] = useState(false);
  // A keyhaven:// link waits here until the keys view can show it (after start-up, sign-in, or
  // the dialog open now); a link that makes no sense is only reported.
  const [linkRequest, setLinkRequest] = useState<NewKeyPrefill | null>(null);
  const [linkProblem, setLinkProblem] = useState<string | null>(null);
  const [linkUrl, setLinkUrl] = useState<string | null>(null);
  // What the window remembers for the active profile (features/prefs); read again after the
  // status is, so that a profile's preferences are never read under another's name.
  const prefsStore = usePrefsStore(status.data?.profile ?? null, !status.isFetching);
  const { prefs, settled: prefsSettled, update: updatePrefs } = prefsStore;
  const tab: WorkspaceTab = prefs.tab ?? "keys";
  const setTab = useCallback((next: WorkspaceTab) => updatePrefs({ tab: next }), [updatePrefs]);
  // A key the header's search found: its account becomes the active one, then its detail opens.
  const [opening, setOpening] = useState<FoundKey | null>(null);
  const openTaken = useCallback(() => setOpening(null), []);
  useDeepLinks(setLinkUrl);
  useProfileChanges();
  const offeredScopes = status.data?.scopes;
  useEffect(() => {
    // Read against the scopes the service offers, so it waits for the first status.
    if (linkUrl === null || !offeredScopes) return;
    const link = parseDeepLink(linkUrl, offeredScopes);
    if (link.kind === "new-key") {
      setLinkProblem(null);
      setLinkRequest(link.prefill);
    } else {
      setLinkProblem(link.problem);
    }
    setLinkUrl(null);
  }, [linkUrl, offeredScopes]);
  // A link's New key form belongs to the keys view (over the tab the preferences bring back).
  useEffect(() => {
    if (linkRequest && prefsSettled) setTab("keys");
  }, [linkRequest, prefsSettled, setTab]);
  const linkTaken = useCallback(() => setLinkRequest(null), []);
  // Profiles, the passphrase lock and expired sessions (features/profiles, features/session).
  const queryClient = useQueryClient();
  // A link for another account (by id or kind) makes that account the active one first; one for
  // an account this profile does not have is only reported.
  const statusData = status.data;
  const linkTarget = useMemo(() => {
    if (!linkRequest || !statusData) return null;
    const active = shownAccount(statusData);
    return { ...linkAccount(linkRequest, statusData.accounts, active), activeId: active?.id ?? null };
  }, [linkRequest, statusData]);
  useEffect(() => {
    if (!linkTarget) return;
    if ("problem" in linkTarget) {
      setLinkProblem(linkTarget.problem);
      setLinkRequest(null);
    } else if (linkTarget.account.id !== linkTarget.activeId) {
      void commands
        .selectAccount({ account_id: linkTarget.account.id })
        .then(() => queryClient.invalidateQueries({ queryKey: appStatusKey }))
        .catch((err) => {
          setLinkProblem(toIpcError(err).message);
          setLinkRequest(null);
        });
    }
  }, [linkTarget, queryClient]);
  const linkReady = linkTarget !== null && "account" in linkTarget && linkTarget.account.id === linkTarget.activeId;
  const profiles = useProfiles();
  const [expired, setExpired] = useState<ReadonlySet<string>>(new Set());
  const onLocked = useCallback(() => void queryClient.invalidateQueries({ queryKey: profilesKey }), [queryClient]);
  const onSessionExpired = useCallback((id: string) => setExpired((s) => (s.has(id) ? s : new Set(s).add(id))), []);
  useCommandErrors({ onLocked, onSessionExpired });
  const activeProfile = profiles.data?.find((p) => p.active);
  const locked = activeProfile?.locked ?? false;
  useActivity(!locked);
  // Once a profile's preferences are in, the account last shown there is selected again, the way
  // the account list selects one, if the profile still has it; otherwise the active one stays.
  // The workspace waits for this, so that no other account's keys flash by first.
  const [restoredFor, setRestoredFor] = useState<string | null>(null);
  const restoring = useRef<string | null>(null);
  const remembered = prefs.account_id;
  const shownId = statusData ? (shownAccount(statusData)?.id ?? null) : null;
  useEffect(() => {
    if (!statusData || !prefsSettled || locked) return;
    const profile = statusData.profile;
    if (restoredFor === profile || restoring.current === profile) return;
    const wanted = statusData.accounts.find((a) => a.id === remembered);
    if (!wanted || wanted.id === shownId) {
      setRestoredFor(profile);
      return;
    }
    restoring.current = profile;
    void commands
      .selectAccount({ account_id: wanted.id })
      .then(() => queryClient.invalidateQueries({ queryKey: appStatusKey }))
      .catch(() => undefined)
      .finally(() => {
        restoring.current = null;
        setRestoredFor(profile);
      });
  }, [statusData, prefsSettled, locked, restoredFor, remembered, shownId, queryClient]);
  // From then on, the account shown is the one to remember.
  const restored = statusData !== undefined && restoredFor === statusData.profile;
  useEffect(() => {
    if (restored && !locked && shownId !== null && shownId !== remembered) updatePrefs({ account_id: shownId });
  }, [restored, locked, shownId, remembered, updatePrefs]);

  if (status.isPending) {
    return <main className="center muted">Starting Keyhaven…</main>;
  }
  if (status.isError) {
    return (
      <main className="center">
        <ErrorNote error={toIpcError(status.error)} />
      </main>
    );
  }
  const s = status.data;
  if (s.startup_error) {
    return (
      <main className="center narrow">
        <h1>Keyhaven cannot start</h1>
        <ErrorNote error={s.startup_error} />
      </main>
    );
  }
  const active = shownAccount(s);

  return (
    <PrefsContext.Provider value={prefsStore}>
      <div className="shell">
        <header className="topbar">
          <span className="brand">Keyhaven</span>
          {profiles.data ? (
            <ProfileSwitcher profiles={profiles.data} />
          ) : (
            <span className="profile" title="Profile">
              Profile: <strong>{s.profile}</strong>
            </span>
          )}
          {!locked && active && (
            <KeySearch
              onOpen={(found) => {
                setTab("keys");
                setOpening(found);
                if (found.account_id !== active.id) {
                  void commands
                    .selectAccount({ account_id: found.account_id })
                    .then(() => queryClient.invalidateQueries({ queryKey: appStatusKey }))
                    .catch((err) => {
                      setOpening(null);
                      setLinkProblem(toIpcError(err).message);
                    });
                }
              }}
            />
          )}
          {s.local_service.error && <span className="warn-inline">{s.local_service.error}</span>}
          <AlertsButton />
        </header>
        <RotationBanner />
        {linkProblem && (
          <div className="banner" role="alert">
            <span>
              <strong>A keyhaven:// link was ignored.</strong> {linkProblem}
            </span>
            <button type="button" className="icon" aria-label="Dismiss" onClick={() => setLinkProblem(null)}>
              ×
            </button>
          </div>
        )}
        {locked ? (
          <UnlockScreen profile={activeProfile?.name ?? s.profile} />
        ) : active ? (
          <div className="body">
            <AccountList
              accounts={s.accounts}
              activeId={active.id}
              localUrl={s.local_service.url}
              onAdd={() => setAddingAccount(true)}
            />
            <main className="main" aria-busy={!(prefsSettled && restored)}>
              {prefsSettled && restored && (
                <Workspace
                  key={active.id}
                  account={active}
                  expired={expired.has(active.id)}
                  onSignedIn={() => setExpired((s) => new Set([...s].filter((id) => id !== active.id)))}
                  tab={tab}
                  onTabChange={setTab}
                  usage={<UsageOverview account={active} />}
                  keys={
                    <KeysView
                      account={active}
                      scopes={s.scopes}
                      clipboardSeconds={s.clipboard_clear_seconds}
                      linkRequest={addingAccount || !linkReady ? null : linkRequest}
                      onLinkTaken={linkTaken}
                      openRequest={opening && opening.account_id === active.id ? opening.key.meta : null}
                      onOpenTaken={openTaken}
                    />
                  }
                />
              )}
            </main>
          </div>
        ) : s.local_service.preparing ? (
          <main className="center muted" aria-busy="true">
            Setting up this computer's account on the local key service…
          </main>
        ) : (
          <main className="center narrow">
            <h1>Sign in to a key service</h1>
            <p className="muted">Keyhaven keeps every secret in this computer's keychain.</p>
            <SignInForm localUrl={s.local_service.url} onDone={() => undefined} />
          </main>
        )}
        {addingAccount && (
          <Dialog title="Add account" onClose={() => setAddingAccount(false)}>
            <SignInForm localUrl={s.local_service.url} onDone={() => setAddingAccount(false)} />
          </Dialog>
        )}
      </div>
    </PrefsContext.Provider>
  );
}
