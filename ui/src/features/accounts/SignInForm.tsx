import { useRef, useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type IpcError, type ServiceRef } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { Field } from "../../components/Field";
import { appStatusKey } from "./useAppStatus";

type Props = { localUrl: string | null; onDone: () => void };

/** The kinds of service another account can be on, and TokenKit's documented host. */
type Kind = "native" | "tokenkit";
export const TOKENKIT_URL = "https://api.tokenkithq.io";

/** Sign in to a key service: the local one on this computer, or one at a URL (Keyhaven's own,
 * or TokenKit, whose calls also carry an API key of the account's). */
export function SignInForm({ localUrl, onDone }: Props) {
  const queryClient = useQueryClient();
  const [where, setWhere] = useState<"local" | "url">(localUrl ? "local" : "url");
  const [kind, setKind] = useState<Kind>("native");
  const [url, setUrl] = useState("");
  const [accountKey, setAccountKey] = useState("");
  // SECURITY 18: plain http:// to another computer only when the person ticks this for the account.
  const [allowHttp, setAllowHttp] = useState(false);
  const urlRef = useRef<HTMLInputElement>(null);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);

  const remoteHttp = where === "url" && isRemoteHttp(url);
  const urlProblem = where === "url" ? checkUrl(url, remoteHttp && allowHttp) : null;

  async function submit(e: FormEvent) {
    e.preventDefault();
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
      if (where === "url" && kind === "tokenkit") {
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

  return (
    <form className="form" onSubmit={submit} aria-label="Sign in">
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
          <select
            name="kind"
            value={kind}
            onChange={(e) => {
              const next = e.target.value as Kind;
              setKind(next);
              setError(null);
              // TokenKit has a documented host: offered, and still editable (staging, tests).
              if (next === "tokenkit" && url.trim() === "") setUrl(TOKENKIT_URL);
              if (next === "native" && url === TOKENKIT_URL) setUrl("");
            }}
          >
            <option value="native">A Keyhaven key service</option>
            <option value="tokenkit">TokenKit</option>
          </select>
        </label>
      )}
      {where === "url" && (
        <label className="field">
          <span>Service URL</span>
          <input
            name="service-url"
            ref={urlRef}
            value={url}
            onChange={(e) => {
              setUrl(e.target.value);
              setError(null);
            }}
            placeholder="https://keys.example.com"
            autoComplete="url"
            spellCheck={false}
            aria-invalid={url !== "" && urlProblem !== null}
          />
          {url !== "" && urlProblem && <small className="field-error">{urlProblem}</small>}
        </label>
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
              Your password, the session and every new key's secret will cross the network unencrypted. Use this only on a
              network you trust, for a service that cannot have TLS.
            </small>
          </span>
        </label>
      )}
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
      {tokenkit(where, kind) && (
        <Field
          label="API key of this account"
          problem={null}
          hint="TokenKit's calls that change keys also carry one of your keys: paste one made in its dashboard (Settings → API Keys). It is kept in this computer's keychain only."
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
      <ErrorNote error={error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </div>
    </form>
  );
}

function tokenkit(where: "local" | "url", kind: Kind): boolean {
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
