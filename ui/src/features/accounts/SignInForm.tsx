import { useRef, useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type ConnectorKind, type IpcError, type ServiceRef, type Tier } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { Field } from "../../components/Field";
import { kindInfo, useKinds } from "../kinds/useKinds";
import { appStatusKey } from "./useAppStatus";

type Props = { localUrl: string | null; onDone: () => void };

/** The kinds signed in to that this form knows how to sign in to (the rest are added by name). */
const SIGN_IN_KINDS: readonly ConnectorKind[] = ["native", "tokenkit", "animus"];

const TIERS: ReadonlyArray<[Tier, string]> = [
  ["free", "Free (2,000 calls a day)"],
  ["indie", "Indie (no daily cap)"],
  ["commercial", "Commercial (no daily cap)"],
];

/**
 * Add an account: sign in to a key service (the local one on this computer, one at a URL,
 * TokenKit, whose calls also carry an API key of the account's, or Animus, with a session token
 * pasted from a signed-in session of its app: a password field never bound to React state), or, for a service whose keys
 * are made on its own page (AniKura, Ananke Labs, WaniKani, any other), name the account and
 * import its keys afterwards. The kinds and their documented hosts come from the core.
 */
export function SignInForm({ localUrl, onDone }: Props) {
  const queryClient = useQueryClient();
  const kinds = useKinds();
  const [where, setWhere] = useState<"local" | "url">(localUrl ? "local" : "url");
  const [kind, setKind] = useState<ConnectorKind>("native");
  const [url, setUrl] = useState("");
  const [accountKey, setAccountKey] = useState("");
  // SECURITY 18: plain http:// to another computer only when the person ticks this for the account.
  const [allowHttp, setAllowHttp] = useState(false);
  const urlRef = useRef<HTMLInputElement>(null);
  const tokenRef = useRef<HTMLInputElement>(null);
  const [hasToken, setHasToken] = useState(false);
  const [tried, setTried] = useState(false);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [tier, setTier] = useState<Tier>("free");
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);

  const info = where === "url" ? kindInfo(kinds.data, kind) : undefined;
  // Accounts of a kind that does not sign in are named, not signed in to; their keys are imported.
  const signsIn = info?.signs_in ?? true;
  const remoteHttp = where === "url" && isRemoteHttp(url);
  const urlProblem = where === "url" ? checkUrl(url, remoteHttp && allowHttp) : null;
  // A validation error of the core is shown by the field it names.
  const fieldError = (field: string) => (error?.code === "validation" && error.field === field ? error.message : null);
  const animus = where === "url" && kind === "animus";
  // Animus: the account's name, and the session token (refused by Animus: shown by the token).
  const tokenError =
    fieldError("session token") ?? fieldError("password") ?? (animus && error?.code === "unauthorized" ? `Animus refused this session token: ${error.message}` : null);
  const tokenProblem = (animus && tried && !hasToken ? "Paste the session token." : null) ?? (animus ? tokenError : null);
  const userProblem = animus ? fieldError("user") : null;
  const shownByField =
    fieldError("name") ?? fieldError("url") ?? fieldError("tier") ?? (animus ? (userProblem ?? tokenError) : null);

  function chooseKind(next: ConnectorKind) {
    const before = kindInfo(kinds.data, kind)?.documented_url ?? null;
    const after = kindInfo(kinds.data, next)?.documented_url ?? null;
    setKind(next);
    setError(null);
    // A kind's documented host is offered, and still editable (staging, tests); a URL typed by
    // the person stays.
    if (url.trim() === "" || url === before) setUrl(after ?? "");
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setTried(true);
    if (urlProblem) {
      // A URL that was typed shows its problem under the field already; an empty one says so here.
      setError(url.trim() === "" ? { code: "validation", message: urlProblem } : null);
      urlRef.current?.focus();
      return;
    }
    const service: ServiceRef = where === "local" ? { kind: "embedded" } : { kind: "url", url: url.trim(), allow_http: remoteHttp && allowHttp };
    setBusy(true);
    setError(null);
    try {
      if (where === "url" && !signsIn) {
        await commands.addAccount({
          kind,
          name: name.trim(),
          url: url.trim(),
          allow_http: remoteHttp && allowHttp,
          ...(kind === "anikura" ? { tier } : {}),
        });
      } else if (animus) {
        const token = tokenRef.current?.value ?? "";
        if (token.trim() === "") {
          tokenRef.current?.focus();
          return;
        }
        await commands.signIn({ service, kind, email: name.trim(), password: token });
        if (tokenRef.current) tokenRef.current.value = "";
        setHasToken(false);
      } else if (where === "url" && kind === "tokenkit") {
        await commands.signIn({ service, kind, email, password, account_key: accountKey });
      } else {
        await commands.signIn({ service, email, password });
      }
      setPassword("");
      setAccountKey("");
      await queryClient.invalidateQueries({ queryKey: appStatusKey });
      onDone();
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setBusy(false);
    }
  }

  const shownUrlProblem = (url !== "" && urlProblem) || fieldError("url");
  const urlHint =
    info?.documented_url && kind !== "native"
      ? url.trim() === info.documented_url
        ? `${info.label}'s documented address; change it for a staging service.`
        : `${info.label}'s documented address is ${info.documented_url}.`
      : null;
  return (
    <form className="form" onSubmit={submit} aria-label={signsIn ? "Sign in" : "Add account"}>
      <fieldset className="choice">
        <legend>Key service</legend>
        <label>
          <input
            type="radio"
            name="where"
            checked={where === "local"}
            disabled={!localUrl}
            onChange={() => setWhere("local")}
          />
          Local service on this computer
        </label>
        <label>
          <input type="radio" name="where" checked={where === "url"} onChange={() => setWhere("url")} />
          Another service
        </label>
      </fieldset>
      {where === "url" && (
        <label className="field">
          <span>Kind of service</span>
          <select name="kind" value={kind} onChange={(e) => chooseKind(e.target.value as ConnectorKind)}>
            {(kinds.data ?? []).length === 0 && <option value="native">A Keyhaven key service</option>}
            {(kinds.data ?? []).filter((k) => !k.signs_in || SIGN_IN_KINDS.includes(k.kind)).map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.kind === "native" ? "A Keyhaven key service" : k.label}
              </option>
            ))}
          </select>
        </label>
      )}
      {where === "url" && (!signsIn || animus) && (
        <Field
          label="Account name"
          problem={animus ? userProblem : fieldError("name")}
          hint={`What you call this ${info?.label ?? ""} account here, e.g. personal or work. Its keys are made in ${info?.key_page ?? "the service's own settings"} and imported into Keyhaven.`}
        >
          {(control) => (
            <input
              {...control}
              name="account-name"
              value={name}
              onChange={(e) => {
                setName(e.target.value);
                setError(null);
              }}
              aria-invalid={(animus ? userProblem : fieldError("name")) !== null}
              autoComplete="off"
              required
            />
          )}
        </Field>
      )}
      {where === "url" && (
        <Field label="Service URL" problem={shownUrlProblem || null} hint={urlHint ?? undefined}>
          {(control) => (
            <input
              {...control}
              name="service-url"
              ref={urlRef}
              value={url}
              onChange={(e) => {
                setUrl(e.target.value);
                setError(null);
              }}
              placeholder={kind === "generic" ? "https://api.example.com" : "https://keys.example.com"}
              autoComplete="url"
              spellCheck={false}
              aria-invalid={Boolean(shownUrlProblem)}
            />
          )}
        </Field>
      )}
      {remoteHttp && (
        <label className="check warn-choice">
          <input type="checkbox" checked={allowHttp} onChange={(e) => {
              setAllowHttp(e.target.checked);
              setError(null);
            }}
          />
          <span>
            Allow unencrypted http:// for this account
            <small className="muted">
              {signsIn
                ? "Your password, the session and every new key's secret will cross the network unencrypted."
                : "Every key of this account will cross the network unencrypted each time it is checked."}{" "}
              Use this only on a network you trust, for a service that cannot have TLS.
            </small>
          </span>
        </label>
      )}
      {where === "url" && kind === "anikura" && (
        <Field label="Plan" problem={fieldError("tier")} hint="AniKura does not tell Keyhaven the plan: it sets the daily cap the quota is measured against.">
          {(control) => (
            <select {...control} name="tier" value={tier} onChange={(e) => setTier(e.target.value as Tier)}>
              {TIERS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
      )}
      {animus && (
        <Field
          label="Session token"
          problem={tokenProblem}
          hint={`Animus manages keys only with the session token of a signed-in session of ${info?.key_page ?? "its app"}: copy it from there and paste it. Keyhaven checks it once and keeps it in this computer's keychain only; when it expires, sign in again with a new one.`}
        >
          {(control) => (
            <input
              {...control}
              ref={tokenRef}
              name="session-token"
              type="password"
              autoComplete="off"
              spellCheck={false}
              aria-invalid={tokenProblem !== null}
              onChange={(e) => {
                setHasToken(e.target.value.trim() !== "");
                setError(null);
              }}
            />
          )}
        </Field>
      )}
      {signsIn && !animus && (
        <>
          <label className="field">
            <span>{tokenkit(where, kind) ? "User name or email" : "Email"}</span>
            <input
              name="email"
              type={tokenkit(where, kind) ? "text" : "email"}
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              autoComplete="username"
              required
            />
          </label>
          <label className="field">
            <span>Password</span>
            <input
              name="password"
              type="password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              autoComplete="current-password"
              required
            />
          </label>
        </>
      )}
      {tokenkit(where, kind) && (
        <Field
          label="API key of this account"
          problem={null}
          hint={`TokenKit's calls that change keys also carry one of your keys: paste one made in ${info?.key_page ?? "its dashboard"}. It is kept in this computer's keychain only.`}
        >
          {(control) => (
            <input
              {...control}
              name="account-key"
              type="password"
              value={accountKey}
              onChange={(e) => setAccountKey(e.target.value)}
              autoComplete="off"
              spellCheck={false}
              required
            />
          )}
        </Field>
      )}
      {!shownByField && <ErrorNote error={error} />}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {signsIn ? (busy ? "Signing in…" : "Sign in") : busy ? "Adding…" : "Add account"}
        </button>
      </div>
    </form>
  );
}

function tokenkit(where: "local" | "url", kind: ConnectorKind): boolean {
  return where === "url" && kind === "tokenkit";
}

/** Whether the URL is plain http:// to a host other than this computer. */
export function isRemoteHttp(raw: string): boolean {
  try {
    const url = new URL(raw.trim());
    return url.protocol === "http:" && !isThisComputer(url.hostname);
  } catch {
    return false;
  }
}

function isThisComputer(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/**
 * Why a service URL will be refused, or null. Plain http is for this computer only, unless the
 * person allowed it for the account (`allowHttp`).
 */
export function checkUrl(raw: string, allowHttp = false): string | null {
  const text = raw.trim();
  if (!text) return "Enter the service's URL.";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "That is not a URL: it should look like https://keys.example.com";
  }
  if (url.protocol === "https:") return null;
  if (url.protocol === "http:") {
    if (allowHttp || isThisComputer(url.hostname)) return null;
    return "Plain http:// is only allowed for this computer (127.0.0.1 or localhost); use https://, or allow unencrypted http:// for this account below.";
  }
  return "The URL must start with https:// (or http:// for this computer).";
}
