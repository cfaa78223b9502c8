import { useCallback, useEffect, useState } from "react";
import { toIpcError } from "./ipc";
import { ErrorNote } from "./components/ErrorNote";
import { Dialog } from "./components/Dialog";
import { AccountList } from "./features/accounts/AccountList";
import { SignInForm } from "./features/accounts/SignInForm";
import { useAppStatus } from "./features/accounts/useAppStatus";
import { KeysView } from "./features/keys/KeysView";
import { parseDeepLink, type NewKeyPrefill } from "./features/deeplink/parse";
import { useDeepLinks } from "./features/deeplink/useDeepLinks";
import { UsageOverview } from "./features/usage/UsageOverview";
import { AlertsButton, RotationBanner } from "./features/usage/WatchBar";

export function App() {
  const status = useAppStatus();
  const [addingAccount, setAddingAccount] = useState(false);
  // A keyhaven:// link waits here until the keys view can show it (after start-up, sign-in, or
  // the dialog open now); a link that makes no sense is only reported.
  const [linkRequest, setLinkRequest] = useState<NewKeyPrefill | null>(null);
  const [linkProblem, setLinkProblem] = useState<string | null>(null);
  const [linkUrl, setLinkUrl] = useState<string | null>(null);
  const [tab, setTab] = useState<"keys" | "usage">("keys");
  useDeepLinks(setLinkUrl);
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
  // A link's New key form belongs to the keys view.
  useEffect(() => {
    if (linkRequest) setTab("keys");
  }, [linkRequest]);
  const linkTaken = useCallback(() => setLinkRequest(null), []);

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
  const active = s.accounts.find((a) => a.id === s.active_account_id) ?? s.accounts[0] ?? null;

  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">Keyhaven</span>
        <span className="profile" title="Profile">
          Profile: <strong>{s.profile}</strong>
        </span>
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
      {active ? (
        <div className="body">
          <AccountList
            accounts={s.accounts}
            activeId={active.id}
            localUrl={s.local_service.url}
            onAdd={() => setAddingAccount(true)}
          />
          <main className="main">
            <div className="tabs" role="tablist" aria-label="View">
              {(["keys", "usage"] as const).map((t) => (
                <button key={t} type="button" role="tab" aria-selected={tab === t} onClick={() => setTab(t)}>
                  {t === "keys" ? "Keys" : "Usage"}
                </button>
              ))}
            </div>
            {tab === "usage" ? (
              <UsageOverview key={active.id} account={active} />
            ) : (
            <KeysView
              key={active.id}
              account={active}
              scopes={s.scopes}
              clipboardSeconds={s.clipboard_clear_seconds}
              linkRequest={addingAccount ? null : linkRequest}
              onLinkTaken={linkTaken}
            />
            )}
          </main>
        </div>
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
  );
}
