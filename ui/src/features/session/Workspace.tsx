import { useState, type ReactNode } from "react";
import type { Account } from "../../ipc";
import { AuditView } from "../audit/AuditView";
import { SupportView } from "../support/SupportView";
import { SignInAgain } from "./SignInAgain";

type Props = {
  account: Account;
  /** The session of this account expired: "Sign in again" shows above what the person was doing. */
  expired: boolean;
  onSignedIn: () => void;
  /** The keys view, for accounts that manage keys. */
  keys: ReactNode;
};

type Tab = "keys" | "audit";

/** One account's workspace: keys and audit for owners and members, the support search for support. */
export function Workspace({ account, expired, onSignedIn, keys }: Props) {
  const [tab, setTab] = useState<Tab>("keys");
  const support = account.role === "support";
  return (
    <>
      {expired && <SignInAgain account={account} onDone={onSignedIn} />}
      {support ? (
        <SupportView account={account} />
      ) : (
        <>
          <div className="tabs" role="tablist" aria-label="Account views">
            <button type="button" role="tab" aria-selected={tab === "keys"} onClick={() => setTab("keys")}>
              Keys
            </button>
            <button type="button" role="tab" aria-selected={tab === "audit"} onClick={() => setTab("audit")}>
              Audit log
            </button>
          </div>
          {tab === "keys" ? keys : <AuditView account={account} />}
        </>
      )}
    </>
  );
}
