import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type Capabilities, type IpcError, type KeyMeta, type NewKeyRequest } from "../../ipc";
import { Dialog } from "../../components/Dialog";
import { ErrorNote } from "../../components/ErrorNote";
import { Field } from "../../components/Field";
import type { NewKeyPrefill } from "../deeplink/parse";
import { keysKey } from "./useKeys";
import {
  EXPIRY_CHOICES,
  checkHourlyLimit,
  checkIps,
  checkName,
  checkOrigins,
  resolveExpiry,
  type ExpiryChoice,
} from "./validation";

type Props = {
  accountId: string;
  scopes: string[];
  clipboardSeconds: number;
  /** Set when a `keyhaven://` link opened the dialog: what it filled in, and what it got wrong. */
  prefill?: NewKeyPrefill | null;
  /**
   * What the account's service lets a key carry: a setting it cannot hold is not asked for
   * (TokenKit keys have no scopes or expiry, Animus keys are not made here at all). Unknown
   * (still loading, or unreadable): every field, and the service has the last word.
   */
  caps?: Capabilities | null;
  onClose: () => void;
};

/** The secret as this dialog holds it: only here, only until the dialog closes. */
type Shown = { meta: KeyMeta; secret: string; stored: boolean; keychainError: IpcError | null };

type FieldName = "name" | "scopes" | "expiry" | "origins" | "ips" | "limit";

export function NewKeyDialog({ accountId, scopes, clipboardSeconds, prefill = null, caps = null, onClose }: Props) {
  const queryClient = useQueryClient();
  const has = {
    scopes: caps ? caps.key_scopes : true,
    expiry: caps ? caps.key_expiry : true,
    origins: caps ? caps.allowed_origins : true,
    ips: caps ? caps.allowed_ips : true,
    limit: caps ? caps.rate_limit_per_hour : true,
  };
  const [name, setName] = useState(prefill?.name ?? "");
  const [chosen, setChosen] = useState<string[]>(
    prefill?.scopes ?? (scopes.includes("read") ? ["read"] : scopes.slice(0, 1)),
  );
  const [expiry, setExpiry] = useState<ExpiryChoice>(prefill?.expires?.choice ?? "never");
  const [expiryDate, setExpiryDate] = useState(prefill?.expires?.date ?? "");
  const [origins, setOrigins] = useState(prefill?.origins?.join(", ") ?? "");
  const [ips, setIps] = useState(prefill?.ips?.join(", ") ?? "");
  const [limit, setLimit] = useState(prefill?.hourlyLimit != null ? String(prefill.hourlyLimit) : "");
  // What the link asked for that this service's keys cannot carry: said, and left out.
  const unheld = prefill
    ? [
        !has.scopes && prefill.scopes && prefill.scopes.length > 0 ? "scopes" : null,
        !has.expiry && prefill.expires && prefill.expires.choice !== "never" ? "an expiry" : null,
        !has.origins && prefill.origins && prefill.origins.length > 0 ? "allowed origins" : null,
        !has.ips && prefill.ips && prefill.ips.length > 0 ? "allowed IPs" : null,
        !has.limit && prefill.hourlyLimit !== null ? "an hourly limit" : null,
      ].filter((x): x is string => x !== null)
    : [];
  // A field's problem shows once the field was typed in, left, or a create was tried; a link's
  // values are checked at once.
  const [touched, setTouched] = useState<Set<FieldName>>(
    () => new Set(prefill ? ["name", "scopes", "expiry", "origins", "ips", "limit"] : []),
  );
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState<Shown | null>(null);
  const [copied, setCopied] = useState<string | null>(null);

  const problems: Record<FieldName, string | null> = {
    name: checkName(name),
    scopes: has.scopes && chosen.length === 0 ? "Choose at least one scope." : null,
    expiry: has.expiry ? resolveExpiry(expiry, expiryDate).problem : null,
    origins: has.origins ? checkOrigins(origins).problem : null,
    ips: has.ips ? checkIps(ips).problem : null,
    limit: has.limit ? checkHourlyLimit(limit).problem : null,
  };
  const shownProblem = (f: FieldName) => (touched.has(f) ? problems[f] : null);
  const touch = (f: FieldName) => setTouched((t) => (t.has(f) ? t : new Set(t).add(f)));

  function toggle(scope: string) {
    touch("scopes");
    setChosen((c) => (c.includes(scope) ? c.filter((s) => s !== scope) : [...c, scope]));
  }

  async function create(e: FormEvent) {
    e.preventDefault();
    setTouched(new Set(["name", "scopes", "expiry", "origins", "ips", "limit"]));
    if (Object.values(problems).some((p) => p !== null)) return;
    const req: NewKeyRequest = { account_id: accountId, name: name.trim(), scopes: has.scopes ? chosen : [] };
    const expiresAt = has.expiry ? resolveExpiry(expiry, expiryDate).expiresAt : null;
    if (expiresAt) req.expires_at = expiresAt;
    const originList = has.origins ? checkOrigins(origins).entries : [];
    if (originList.length > 0) req.allowed_origins = originList;
    const ipList = has.ips ? checkIps(ips).entries : [];
    if (ipList.length > 0) req.allowed_ips = ipList;
    const hourly = has.limit ? checkHourlyLimit(limit).limit : null;
    if (hourly !== null) req.rate_limit_per_hour = hourly;
    setBusy(true);
    setError(null);
    try {
      const created = await commands.createKey(req);
      setShown({
        meta: created.meta,
        secret: created.secret_once,
        stored: created.stored_in_keychain,
        keychainError: created.keychain_error,
      });
      await queryClient.invalidateQueries({ queryKey: keysKey(accountId) });
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setBusy(false);
    }
  }

  async function copy() {
    if (!shown) return;
    try {
      const result = await commands.copySecret({ account_id: accountId, key_id: shown.meta.id });
      setCopied(`Copied. The clipboard clears in ${result.clears_in_seconds} s.`);
    } catch (err) {
      setError(toIpcError(err));
    }
  }

  function close() {
    setShown(null); // drop the secret before the dialog goes
    onClose();
  }

  if (shown) {
    return (
      <Dialog title="Your new key" onClose={close}>
        <p>
          This is the only time <strong>{shown.meta.name}</strong>'s secret is shown. Copy it now; later you can copy it
          from the keychain on this computer.
        </p>
        <code className="secret" data-testid="new-key-secret" aria-label="Secret">
          {shown.secret}
        </code>
        <p className={shown.stored ? "stored ok" : "stored warn"} data-testid="keychain-state">
          {shown.stored ? "✓ Stored in keychain" : "Not stored in the keychain: select the secret and copy it now, or it is lost."}
        </p>
        {shown.keychainError && <ErrorNote error={shown.keychainError} />}
        {copied && (
          <p className="note" role="status">
            {copied}
          </p>
        )}
        <ErrorNote error={error} />
        <div className="actions">
          <button type="button" className="secondary" onClick={copy} disabled={!shown.stored}>
            Copy
          </button>
          <button type="button" className="primary" onClick={close}>
            Done
          </button>
        </div>
        <p className="fineprint">Copied secrets are cleared from the clipboard after {clipboardSeconds} seconds.</p>
      </Dialog>
    );
  }

  return (
    <Dialog title="New key" onClose={close} wide>
      <form className="form" onSubmit={create} noValidate aria-label="New key">
        {prefill && (
          <div className="from-link" role="alert" data-testid="from-link">
            <p>
              <strong>Opened from a keyhaven:// link.</strong> Nothing is created until you check the details and
              press Create.
            </p>
            {prefill.requestedBy && (
              <p className="requested-by" data-testid="requested-by">
                Requested by <strong>{prefill.requestedBy}</strong> (as the link says: Keyhaven cannot check who sent it).
              </p>
            )}
            {(prefill.problems.length > 0 || unheld.length > 0) && (
              <ul className="link-problems">
                {prefill.problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
                {unheld.length > 0 && (
                  <li>
                    The link asks for {unheld.join(", ")}, which keys of this service cannot have; left out.
                  </li>
                )}
              </ul>
            )}
          </div>
        )}
        <Field label="Name" problem={shownProblem("name")}>
          {(control) => (
            <input
              name="name"
              value={name}
              autoFocus
              autoComplete="off"
              spellCheck={false}
              onChange={(e) => {
                setName(e.target.value);
                if (e.target.value.trim() !== "") touch("name");
              }}
              onBlur={() => touch("name")}
              aria-invalid={shownProblem("name") !== null}
              {...control}
              placeholder="e.g. deploy bot"
            />
          )}
        </Field>
        {has.scopes && (
          <fieldset className="choice" aria-describedby={shownProblem("scopes") ? "scopes-problem" : undefined}>
            <legend>Scopes</legend>
            {scopes.map((scope) => (
              <label key={scope}>
                <input type="checkbox" name="scope" value={scope} checked={chosen.includes(scope)} onChange={() => toggle(scope)} />
                {scope}
              </label>
            ))}
            {shownProblem("scopes") && (
              <small className="field-error" id="scopes-problem">
                {shownProblem("scopes")}
              </small>
            )}
          </fieldset>
        )}
        {(has.expiry || has.limit) && (
          <div className="row-2">
            {has.expiry && (
              <Field label="Expires" problem={expiry === "date" ? null : shownProblem("expiry")}>
                {(control) => (
                  <select
                    name="expires"
                    value={expiry}
                    onChange={(e) => {
                      setExpiry(e.target.value as ExpiryChoice);
                      touch("expiry");
                    }}
                    {...control}
                  >
                    {EXPIRY_CHOICES.map((c) => (
                      <option key={c.value} value={c.value}>
                        {c.label}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            )}
            {has.limit && (
              <Field label="Hourly limit" problem={shownProblem("limit")} hint="Requests per hour; empty for no limit.">
                {(control) => (
                  <input
                    name="hourly-limit"
                    inputMode="numeric"
                    autoComplete="off"
                    value={limit}
                    onChange={(e) => {
                      setLimit(e.target.value);
                      touch("limit");
                    }}
                    aria-invalid={shownProblem("limit") !== null}
                    {...control}
                    placeholder="no limit"
                  />
                )}
              </Field>
            )}
          </div>
        )}
        {has.expiry && expiry === "date" && (
          <Field label="Expiry date" problem={shownProblem("expiry")} hint="The key stops working at the end of this day.">
            {(control) => (
              <input
                name="expiry-date"
                type="date"
                value={expiryDate}
                onChange={(e) => {
                  setExpiryDate(e.target.value);
                  touch("expiry");
                }}
                aria-invalid={shownProblem("expiry") !== null}
                {...control}
                placeholder="YYYY-MM-DD"
              />
            )}
          </Field>
        )}
        {(has.origins || has.ips) && (
          <div className="row-2">
            {has.origins && (
              <Field
                label="Allowed origins"
                problem={shownProblem("origins")}
                hint="Web pages that may use the key, as scheme://host[:port]. Empty: any."
              >
                {(control) => (
                  <textarea
                    name="allowed-origins"
                    rows={2}
                    spellCheck={false}
                    autoComplete="off"
                    value={origins}
                    onChange={(e) => {
                      setOrigins(e.target.value);
                      touch("origins");
                    }}
                    aria-invalid={shownProblem("origins") !== null}
                    {...control}
                    placeholder="https://app.example.com"
                  />
                )}
              </Field>
            )}
            {has.ips && (
              <Field
                label="Allowed IPs"
                problem={shownProblem("ips")}
                hint="Addresses or CIDR blocks that may use the key. Empty: any."
              >
                {(control) => (
                  <textarea
                    name="allowed-ips"
                    rows={2}
                    spellCheck={false}
                    autoComplete="off"
                    value={ips}
                    onChange={(e) => {
                      setIps(e.target.value);
                      touch("ips");
                    }}
                    aria-invalid={shownProblem("ips") !== null}
                    {...control}
                    placeholder="203.0.113.7, 10.0.0.0/8"
                  />
                )}
              </Field>
            )}
          </div>
        )}
        <ErrorNote error={error} />
        <div className="actions">
          <button type="button" className="secondary" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Creating…" : "Create"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
