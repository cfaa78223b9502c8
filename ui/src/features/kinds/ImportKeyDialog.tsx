import { useRef, useState, type FormEvent } from "react";
import { useQueries, useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type Account, type ConnectorKind, type ImportOptions, type IpcError, type KeyView, type KindInfo } from "../../ipc";
import { Dialog } from "../../components/Dialog";
import { ErrorNote } from "../../components/ErrorNote";
import { Field } from "../../components/Field";
import { capabilitiesKey } from "../keydetail/useKeyDetail";
import { keysKey } from "../keys/useKeys";
import { checkName, resolveExpiry } from "../keys/validation";
import { kindInfo, suggestKinds } from "./useKinds";

type Props = {
  /** The accounts of the profile: those of kinds whose keys are imported are offered. */
  accounts: Account[];
  kinds: KindInfo[];
  /** The account whose keys were shown: chosen first when the key fits it. */
  preferredAccountId: string;
  /** The name to start with (from a `keyhaven://new-key` link). */
  initialName?: string;
  /** Who a `keyhaven://new-key` link says is asking, shown as plain text. */
  requestedBy?: string | null;
  onImported: (view: KeyView, account: Account) => void;
  onClose: () => void;
};

type FieldName = "secret" | "kind" | "account" | "name" | "permissions" | "expiry" | "header" | "verifyUrl";

/** The fields a validation error of the core is shown by (its `field`), else under the form. */
const CORE_FIELDS: Record<string, FieldName> = {
  secret: "secret",
  name: "name",
  account: "account",
  header: "header",
  "value prefix": "header",
  url: "verifyUrl",
  "verify url": "verifyUrl",
  expires_at: "expiry",
};

function coreFieldOf(error: IpcError | null): FieldName | null {
  if (error?.code !== "validation" || !error.field) return null;
  if (error.field.startsWith("scopes")) return "permissions";
  return CORE_FIELDS[error.field] ?? null;
}

/**
 * Import a key made on its service's own page: paste the secret (a password field, never shown
 * back: the field is not bound to React state, so the page never writes it out), name it, choose
 * the account. A prefix that fits several services (`ak_live_`: AniKura or Ananke Labs) is asked
 * about before anything is sent, so that a key is never tried against the wrong service. The key
 * is checked with its service before it is stored, unless the person says not to.
 */
export function ImportKeyDialog({ accounts, kinds, preferredAccountId, initialName = "", requestedBy = null, onImported, onClose }: Props) {
  const queryClient = useQueryClient();
  const secretRef = useRef<HTMLInputElement>(null);
  const [hasSecret, setHasSecret] = useState(false);
  const [suggested, setSuggested] = useState<KindInfo[]>([]);
  const [chosenKind, setChosenKind] = useState<ConnectorKind | null>(null);
  const [accountId, setAccountId] = useState(preferredAccountId);
  const [name, setName] = useState(initialName);
  const [permissions, setPermissions] = useState("");
  const [expiry, setExpiry] = useState("");
  const [header, setHeader] = useState("Authorization");
  const [valuePrefix, setValuePrefix] = useState("Bearer ");
  const [verifyUrl, setVerifyUrl] = useState("");
  const [unverified, setUnverified] = useState(false);
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<IpcError | null>(null);

  // Accounts keys are imported into: those of kinds without sign-in, and those whose service
  // lists keys it cannot make (Animus: the key is matched by its listed name).
  const caps = useQueries({
    queries: accounts.map((a) => ({
      queryKey: capabilitiesKey(a.id),
      queryFn: () => commands.keyCapabilities({ account_id: a.id }),
    })),
  });
  const byName = (a: Account) => {
    const c = caps[accounts.indexOf(a)]?.data;
    return Boolean(c && c.import_keys && c.list_keys && !c.local_keys && !c.create_key);
  };
  const importable = accounts.filter((a) => kindInfo(kinds, a.connector)?.signs_in === false || byName(a));
  const ambiguous = suggested.length > 1;
  // The kind the key is for: the one its prefix names, the one the person chose, or any.
  const wanted: ConnectorKind[] | null =
    suggested.length === 1 ? [suggested[0].kind] : ambiguous ? (chosenKind ? [chosenKind] : suggested.map((k) => k.kind)) : null;
  const candidates = wanted ? importable.filter((a) => wanted.includes(a.connector)) : importable;
  const account = candidates.find((a) => a.id === accountId) ?? candidates[0] ?? null;
  const kind = account ? kindInfo(kinds, account.connector) : undefined;
  const listed = account ? byName(account) : false;
  const wanikani = account?.connector === "wanikani";
  const generic = account?.connector === "generic";

  const problems: Record<FieldName, string | null> = {
    secret: hasSecret ? null : "Paste the key.",
    kind: ambiguous && !chosenKind ? `Say which service this key is for: ${suggested.map((k) => k.label).join(" or ")}.` : null,
    account: account
      ? null
      : wanted && wanted.length === 1
        ? `There is no ${kindInfo(kinds, wanted[0])?.label ?? wanted[0]} account yet: add one with Add account first.`
        : "Choose the account the key belongs to.",
    name: checkName(name),
    permissions: null,
    expiry: wanikani && expiry.trim() !== "" ? resolveExpiry("date", expiry).problem : null,
    header: generic && header.trim() === "" ? "Say which HTTP header the key is sent in, for example Authorization." : null,
    verifyUrl: null,
  };
  const coreField = coreFieldOf(error);
  const shown = (f: FieldName) => (tried ? problems[f] : null) ?? (coreField === f ? (error?.message ?? null) : null);

  function pasted(value: string) {
    setHasSecret(value.trim() !== "");
    // Only the kinds the key may be for are kept, never its text; another prefix asks again.
    const next = suggestKinds(kinds, value, importable.map((a) => a.connector));
    if (!sameKinds(suggested, next)) {
      setSuggested(next);
      setChosenKind(null);
    }
    setError(null);
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setTried(true);
    const secret = secretRef.current?.value ?? "";
    if (Object.values(problems).some((p) => p !== null) || !account || secret.trim() === "") {
      if (problems.secret) secretRef.current?.focus();
      return;
    }
    const options: ImportOptions = { name: name.trim(), scopes: [], unverified: unverified && !listed };
    if (wanikani) {
      options.scopes = permissions
        .split(",")
        .map((p) => p.trim())
        .filter((p) => p !== "");
      const expiresAt = expiry.trim() === "" ? null : resolveExpiry("date", expiry).expiresAt;
      if (expiresAt) options.expires_at = expiresAt;
    }
    if (generic) {
      options.presentation = { header: header.trim(), value_prefix: valuePrefix };
      if (verifyUrl.trim() !== "") options.presentation.verify_url = verifyUrl.trim();
    }
    setBusy(true);
    setError(null);
    try {
      const view = await commands.importKey({ account_id: account.id, secret, options });
      if (secretRef.current) secretRef.current.value = "";
      await queryClient.invalidateQueries({ queryKey: keysKey(account.id) });
      onImported(view, account);
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setBusy(false);
    }
  }

  const label = kind?.label ?? "its service";
  return (
    <Dialog title="Import key" onClose={onClose}>
      <form className="form" onSubmit={submit} aria-label="Import key" noValidate>
        {requestedBy && (
          <p className="requested-by" data-testid="requested-by">
            Requested by <strong>{requestedBy}</strong>, through a keyhaven:// link (Keyhaven cannot check who sent it).
          </p>
        )}
        <p className="muted" data-testid="key-page">
          {kind && listed
            ? `${kind.label} keys are made in ${kind.key_page}, not in Keyhaven. Paste one here and name it as ${kind.label} lists it: Keyhaven finds it in the list, checks it and keeps it in this computer's keychain.`
            : kind
              ? `${kind.label} keys are made in ${kind.key_page}. Paste one here: Keyhaven keeps it in this computer's keychain.`
              : "Paste a key made on its service's own page: Keyhaven keeps it in this computer's keychain."}
        </p>
        <Field label="Key" problem={shown("secret")} hint="Pasted keys are never shown again.">
          {(control) => (
            <input
              {...control}
              ref={secretRef}
              name="secret"
              type="password"
              autoComplete="off"
              spellCheck={false}
              autoFocus
              aria-invalid={shown("secret") !== null}
              onChange={(e) => pasted(e.target.value)}
            />
          )}
        </Field>
        {ambiguous && (
          <fieldset className="choice" aria-describedby="which-kind-why">
            <legend>Which service is this key for?</legend>
            <small className="field-hint" id="which-kind-why" style={{ flexBasis: "100%" }}>
              Keys of {suggested.map((k) => k.label).join(" and ")} look alike. It is checked with the service you choose,
              and only with that one.
            </small>
            {suggested.map((k) => (
              <label key={k.kind}>
                <input
                  type="radio"
                  name="kind"
                  value={k.kind}
                  checked={chosenKind === k.kind}
                  onChange={() => {
                    setChosenKind(k.kind);
                    setError(null);
                  }}
                />
                {k.label}
              </label>
            ))}
            {shown("kind") && <small className="field-error">{shown("kind")}</small>}
          </fieldset>
        )}
        <Field label="Account" problem={shown("account")}>
          {(control) => (
            <select
              {...control}
              name="account"
              value={account?.id ?? ""}
              disabled={candidates.length === 0}
              onChange={(e) => {
                setAccountId(e.target.value);
                setError(null);
              }}
            >
              {candidates.length === 0 && <option value="">No account fits</option>}
              {candidates.map((a) => (
                <option key={a.id} value={a.id}>
                  {kindInfo(kinds, a.connector)?.label ?? a.connector} · {a.email}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label={listed ? `Name in ${kind?.label ?? "the service"}` : "Name"}
          problem={shown("name")}
          hint={
            listed
              ? `The key's name as ${kind?.label ?? "the service"} lists it: it says which listed key this secret is.`
              : "What you call the key here, e.g. where it is used."
          }
        >
          {(control) => (
            <input {...control} name="name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
          )}
        </Field>
        {wanikani && (
          <div className="row-2">
            <Field label="Permissions" problem={shown("permissions")} hint="As set on WaniKani, comma-separated; empty: reads only.">
              {(control) => (
                <input
                  {...control}
                  name="permissions"
                  value={permissions}
                  placeholder="assignments:start, reviews:create"
                  spellCheck={false}
                  onChange={(e) => setPermissions(e.target.value)}
                />
              )}
            </Field>
            <Field label="Expires" problem={shown("expiry")} hint="YYYY-MM-DD as set on WaniKani; empty: never.">
              {(control) => (
                <input
                  {...control}
                  name="expires"
                  value={expiry}
                  placeholder="2030-01-31"
                  spellCheck={false}
                  onChange={(e) => setExpiry(e.target.value)}
                />
              )}
            </Field>
          </div>
        )}
        {generic && (
          <>
            <div className="row-2">
              <Field label="Header" problem={shown("header")} hint="The HTTP header the key is sent in.">
                {(control) => (
                  <input
                    {...control}
                    name="header"
                    value={header}
                    spellCheck={false}
                    aria-invalid={shown("header") !== null}
                    onChange={(e) => {
                      setHeader(e.target.value);
                      setError(null);
                    }}
                  />
                )}
              </Field>
              <Field label="Value prefix" problem={null} hint='Put before the key, e.g. "Bearer " (with its space); may be empty.'>
                {(control) => (
                  <input
                    {...control}
                    name="value-prefix"
                    value={valuePrefix}
                    spellCheck={false}
                    onChange={(e) => setValuePrefix(e.target.value)}
                  />
                )}
              </Field>
            </div>
            <Field
              label="Check URL (optional)"
              problem={shown("verifyUrl")}
              hint="A URL that answers 2xx to a working key and 401 or 403 to a refused one. Without it the key cannot be checked."
            >
              {(control) => (
                <input
                  {...control}
                  name="verify-url"
                  value={verifyUrl}
                  placeholder="https://api.example.com/v1/me"
                  spellCheck={false}
                  onChange={(e) => setVerifyUrl(e.target.value)}
                />
              )}
            </Field>
          </>
        )}
        {!listed && (
          <label className="check store-unchecked">
            <input type="checkbox" name="unverified" checked={unverified} onChange={(e) => setUnverified(e.target.checked)} />
            <span>
              Store without checking
              <small className="muted">
                {generic && verifyUrl.trim() === ""
                  ? "Needed without a check URL: the key cannot be checked."
                  : `For when ${label} cannot be reached now. The key is then marked “not checked”.`}
              </small>
            </span>
          </label>
        )}
        {error && error.code === "unauthorized" ? (
          <p className="error" role="alert" data-testid="import-refused">
            {label} refused this key: it is unknown there, was deleted or regenerated, or has expired. It was not stored.
          </p>
        ) : (
          coreField === null && <ErrorNote error={error} />
        )}
        {busy && (
          <p className="muted" role="status">
            {unverified ? "Storing the key…" : `Checking the key with ${label}…`}
          </p>
        )}
        <div className="actions">
          <button type="button" className="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? (unverified ? "Storing…" : "Checking…") : unverified ? "Store" : "Check and store"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function sameKinds(a: KindInfo[], b: KindInfo[]): boolean {
  return a.length === b.length && a.every((k, i) => k.kind === b[i].kind);
}
