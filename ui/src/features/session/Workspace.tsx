import type { ReactNode } from "react";
import type { Account, WorkspaceTab } from "../../ipc";
import { AuditView } from "../audit/AuditView";
import { useCapabilities } from "../keydetail/useKeyDetail";
import { SupportView } from "../support/SupportView";
import { SignInAgain } from "./SignInAgain";

type Props = {
  account: Account;
  /** The session of this account expired: "Sign in again" shows above what the person was doing. */
  expired: boolean;
  onSignedIn: () => void;
  /** The tab shown, kept by the caller so that a keyhaven:// link can bring the keys back. */
  tab: WorkspaceTab;
  onTabChange: (tab: WorkspaceTab) => void;
  /** The keys view, for accounts that manage keys. */
  keys: ReactNode;
  /** The account's usage overview. */
  usage: ReactNode;
};

/** The tabs, as the window's preferences keep the last one shown (src-tauri/prefs.rs). */
export type { WorkspaceTab };

const TABS: ReadonlyArray<[WorkspaceTab, string]> = [
  ["keys", "Keys"],
  ["usage", "Usage"],
  ["audit", "Audit log"],
];

/** One account's workspace: keys, usage and audit for owners and members, the support search for support. */
export function Workspace({ account, expired, onSignedIn, tab, onTabChange, keys, usage }: Props) {
  const support = account.role === "support";
  const caps = useCapabilities(account.id);
  // The views the account's service has data for (TokenKit has no usage and no audit log).
  const tabs = TABS.filter(
    ([id]) => id === "keys" || !caps.data || (id === "usage" ? caps.data.account_usage : caps.data.audit),
  );
  const shown = tabs.some(([id]) => id === tab) ? tab : "keys";
  return (
    <>
      {expired && <SignInAgain account={account} onDone={onSignedIn} />}
      {support ? (
        <SupportView account={account} />
      ) : (
        <>
          <div className="tabs" role="tablist" aria-label="Account views">
            {tabs.map(([id, label]) => (
              <button key={id} type="button" role="tab" aria-selected={shown === id} onClick={() => onTabChange(id)}>
                {label}
              </button>
            ))}
          </div>
          {shown === "keys" ? keys : shown === "usage" ? usage : <AuditView account={account} />}
        </>
      )}
    </>
  );
}
