import { useQueryClient } from "@tanstack/react-query";
import { commands, type Account } from "../../ipc";
import { serviceLabel } from "../../lib/format";
import { kindInfo, useKinds } from "../kinds/useKinds";
import { appStatusKey } from "./useAppStatus";

type Props = {
  accounts: Account[];
  activeId: string | null;
  localUrl: string | null;
  onAdd: () => void;
};

export function AccountList({ accounts, activeId, localUrl, onAdd }: Props) {
  const queryClient = useQueryClient();
  const kinds = useKinds();
  async function select(id: string) {
    await commands.selectAccount({ account_id: id });
    await queryClient.invalidateQueries({ queryKey: appStatusKey });
  }
  return (
    <nav className="accounts" aria-label="Accounts">
      <h2>Accounts</h2>
      <ul>
        {accounts.map((a) => (
          <li key={a.id}>
            <button
              type="button"
              className={a.id === activeId ? "account active" : "account"}
              aria-current={a.id === activeId ? "true" : undefined}
              onClick={() => select(a.id)}
            >
              {a.service.kind === "embedded" ? (
                <>
                  <span className="account-email">This computer</span>
                  <span className="account-service" title={a.email}>
                    Local service{localUrl ? "" : " (not running)"} · {a.role}
                  </span>
                </>
              ) : (
                <>
                  <span className="account-email">{a.email}</span>
                  <span className="account-service">
                    {a.connector !== "native" && `${kindInfo(kinds.data, a.connector)?.label ?? a.connector} · `}
                    {serviceLabel(a.service.url)}
                    {/* An account added without a sign-in has no role to speak of. */}
                    {kindInfo(kinds.data, a.connector)?.signs_in !== false && ` · ${a.role}`}
                  </span>
                  {a.service.allow_http && (
                    <span className="account-insecure" title="You allowed unencrypted http:// for this account">
                      Unencrypted http
                    </span>
                  )}
                </>
              )}
            </button>
          </li>
        ))}
      </ul>
      <button type="button" className="secondary wide" onClick={onAdd}>
        Add account
      </button>
    </nav>
  );
}
