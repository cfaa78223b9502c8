// `keyhaven://` links. Anything on this computer (a web page, a chat message, another program)
// can open one, so a link only ever fills in the New key form for the person to check and
// confirm: it never creates anything by itself, and what it carries is checked here first.
//
//   keyhaven://new-key?name=deploy%20bot&scopes=read,write
//   keyhaven://new-key?kind=wanikani&name=review%20bot&scopes=reviews:create&for=Review%20Tool
//
// Parameters: `name`, `scopes`, `account` (an account id) or `kind` (a kind of service: its first
// account), `expires` (7d, 30d, 90d, 365d, never, or a date YYYY-MM-DD), `origins`, `ips`,
// `hourly_limit`, and `for` (who is asking: shown to the person as plain text, never trusted).

import { KINDS, type ConnectorKind } from "../../ipc";
import {
  MAX_LIST_ENTRIES,
  MAX_NAME_CHARS,
  checkHourlyLimit,
  checkIp,
  checkName,
  checkOrigin,
  quote,
  resolveExpiry,
  splitList,
  type ExpiryChoice,
} from "../keys/validation";

export const SCHEME = "keyhaven:";
/** Longest link accepted, in characters; a longer one is refused whole. */
export const MAX_LINK_CHARS = 2048;
const KNOWN_PARAMS = new Set(["name", "scopes", "account", "kind", "expires", "origins", "ips", "hourly_limit", "for"]);
/** Longest "for" text shown, in characters. */
export const MAX_FOR_CHARS = 100;
const ACCOUNT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** A New key form to prefill, with what was wrong in the link (and therefore left out). */
export type NewKeyPrefill = {
  name: string;
  /** Scopes the link asked for that the service offers; null when it named none. */
  scopes: string[] | null;
  /** The account the key is for (an id), or the kind of service; null: the active account. */
  account: string | null;
  kind: ConnectorKind | null;
  /** The expiry asked for; null when the link gave none (or a wrong one). */
  expires: { choice: ExpiryChoice; date: string } | null;
  /** Origins, IPs and the hourly limit asked for; null when the link gave none. */
  origins: string[] | null;
  ips: string[] | null;
  hourlyLimit: number | null;
  /** Who the link says is asking, as plain text to show; null when it does not say. */
  requestedBy: string | null;
  problems: string[];
};

export type DeepLink = { kind: "new-key"; prefill: NewKeyPrefill } | { kind: "invalid"; problem: string };

/** Reads a `keyhaven://` link against the scopes the service offers. */
export function parseDeepLink(raw: string, offeredScopes: readonly string[]): DeepLink {
  if (raw.length > MAX_LINK_CHARS) {
    return { kind: "invalid", problem: `The link is ${raw.length} characters long; Keyhaven reads links of at most ${MAX_LINK_CHARS}.` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { kind: "invalid", problem: "The link is not a valid URL." };
  }
  if (url.protocol !== SCHEME) {
    return { kind: "invalid", problem: `The link is not a keyhaven:// link (it starts with ${quote(url.protocol)}).` };
  }
  // keyhaven://new-key parses with "new-key" as the host; accept keyhaven:new-key too.
  const action = (url.host || url.pathname).replace(/^\/+|\/+$/g, "");
  if (action !== "new-key" || (url.host && url.pathname.replace(/\/+$/, "") !== "")) {
    return { kind: "invalid", problem: `Keyhaven does not know what to do with ${quote(action || raw)}; it understands keyhaven://new-key.` };
  }

  const problems: string[] = [];
  const unknown = [...new Set([...url.searchParams.keys()].filter((k) => !KNOWN_PARAMS.has(k)))];
  if (unknown.length > 0) {
    problems.push(`The link has ${unknown.length === 1 ? "a parameter" : "parameters"} Keyhaven does not use, ignored: ${unknown.map(quote).join(", ")}.`);
  }

  let name = "";
  const names = url.searchParams.getAll("name");
  if (names.length > 1) {
    problems.push("The link names the key more than once; no name was filled in.");
  } else if (names.length === 1) {
    const given = names[0].trim();
    const length = [...given].length;
    if (length > MAX_NAME_CHARS) {
      problems.push(`The name in the link is ${length} characters long (at most ${MAX_NAME_CHARS}); it was not filled in.`);
    } else if (given !== "" && checkName(given) !== null) {
      problems.push(`The name in the link was not filled in: ${checkName(given)}`);
    } else {
      name = given;
    }
  }

  let scopes: string[] | null = null;
  const scopeParams = url.searchParams.getAll("scopes");
  if (scopeParams.length > 0) {
    const asked = [...new Set(scopeParams.flatMap((v) => v.split(/[\s,]+/)).filter((s) => s !== ""))];
    const unknownScopes = asked.filter((s) => !offeredScopes.includes(s));
    if (unknownScopes.length > 0) {
      const shown = unknownScopes.slice(0, 5).map(quote).join(", ") + (unknownScopes.length > 5 ? ", …" : "");
      problems.push(
        `The link asks for ${unknownScopes.length === 1 ? "a scope" : "scopes"} this service does not offer, not selected: ${shown}. ` +
          `Offered: ${offeredScopes.join(", ")}.`,
      );
    }
    scopes = asked.filter((s) => offeredScopes.includes(s));
  }

  // Which account: by id, or by kind of service (then its first account).
  let account = once(url, "account", "names the account", problems);
  if (account !== null && !ACCOUNT_ID.test(account)) {
    problems.push(`The account in the link, ${quote(account)}, is not an account id; the active account was kept.`);
    account = null;
  }
  let kind: ConnectorKind | null = null;
  const kindParam = once(url, "kind", "names the kind of service", problems);
  if (kindParam !== null) {
    const known = KINDS.find((k) => k.kind === kindParam.toLowerCase());
    if (!known) {
      problems.push(`The link asks for a kind of service Keyhaven does not know, ${quote(kindParam)}; the active account was kept.`);
    } else if (account !== null) {
      problems.push("The link names both an account and a kind of service; the kind was ignored.");
    } else {
      kind = known.kind;
    }
  }

  let expires: NewKeyPrefill["expires"] = null;
  const expiresParam = once(url, "expires", "gives the expiry", problems);
  if (expiresParam !== null) {
    const text = expiresParam.toLowerCase();
    const choice = (["never", "7d", "30d", "90d", "365d"] as const).find((c) => c === text);
    if (choice) {
      expires = { choice, date: "" };
    } else {
      const date = resolveExpiry("date", expiresParam);
      if (date.problem) {
        problems.push(`The expiry in the link was not filled in: ${quote(expiresParam)} is neither 7d, 30d, 90d, 365d, never nor a later date as YYYY-MM-DD.`);
      } else {
        expires = { choice: "date", date: expiresParam };
      }
    }
  }

  const origins = list(url, "origins", "origin", checkOrigin, problems);
  const ips = list(url, "ips", "IP", checkIp, problems);

  let hourlyLimit: number | null = null;
  const limitParam = once(url, "hourly_limit", "gives the hourly limit", problems);
  if (limitParam !== null) {
    const checked = checkHourlyLimit(limitParam);
    if (checked.problem || checked.limit === null) {
      problems.push(`The hourly limit in the link, ${quote(limitParam)}, was not filled in: ${checked.problem ?? "it is empty."}`);
    } else {
      hourlyLimit = checked.limit;
    }
  }

  let requestedBy: string | null = null;
  const forParam = once(url, "for", "says who is asking", problems);
  if (forParam !== null) {
    const length = [...forParam].length;
    if (length > MAX_FOR_CHARS) {
      problems.push(`The link's “for” is ${length} characters long (at most ${MAX_FOR_CHARS}); who is asking is not known.`);
    } else if (CONTROL.test(forParam)) {
      problems.push("The link's “for” holds control characters; who is asking is not known.");
    } else if (forParam !== "") {
      requestedBy = forParam;
    }
  }

  return {
    kind: "new-key",
    prefill: { name, scopes, account, kind, expires, origins, ips, hourlyLimit, requestedBy, problems },
  };
}

/** A parameter given at most once, trimmed; given more than once it is reported and left out. */
function once(url: URL, param: string, what: string, problems: string[]): string | null {
  const values = url.searchParams.getAll(param);
  if (values.length > 1) {
    problems.push(`The link ${what} more than once (“${param}”); it was left out.`);
    return null;
  }
  return values.length === 1 ? values[0].trim() : null;
}

/** A list parameter (comma- or space-separated, may repeat): good entries kept, bad ones reported. */
function list(url: URL, param: string, what: string, check: (entry: string) => string | null, problems: string[]): string[] | null {
  const values = url.searchParams.getAll(param);
  if (values.length === 0) return null;
  const entries = [...new Set(values.flatMap(splitList))];
  const bad = entries.filter((e) => check(e) !== null);
  if (bad.length === 1) {
    problems.push(`The link's ${what} was not filled in: ${check(bad[0])}`);
  } else if (bad.length > 1) {
    problems.push(`${bad.length} of the link's ${what}s were not filled in, the first because ${check(bad[0])}`);
  }
  const good = entries.filter((e) => check(e) === null);
  if (good.length > MAX_LIST_ENTRIES) {
    problems.push(`The link gives ${good.length} ${what}s; the first ${MAX_LIST_ENTRIES} were filled in.`);
  }
  return good.slice(0, MAX_LIST_ENTRIES);
}

/** A prefill with nothing asked for but what `over` gives (tests, and links built here). */
export function newKeyPrefill(over: Partial<NewKeyPrefill> = {}): NewKeyPrefill {
  return {
    name: "",
    scopes: null,
    account: null,
    kind: null,
    expires: null,
    origins: null,
    ips: null,
    hourlyLimit: null,
    requestedBy: null,
    problems: [],
    ...over,
  };
}

/**
 * The account a link's key is for: the one it names by id, else the active one when it is of the
 * kind the link asks for, else the first account of that kind, else the active one. A link that
 * names an account or kind this profile does not have is refused with a sentence saying so.
 */
export function linkAccount<A extends { id: string; connector: ConnectorKind }>(
  prefill: NewKeyPrefill,
  accounts: readonly A[],
  active: A | null,
): { account: A } | { problem: string } {
  if (prefill.account !== null) {
    const named = accounts.find((a) => a.id === prefill.account);
    return named
      ? { account: named }
      : { problem: `The link asks for a key in account ${quote(prefill.account)}, which is not in this profile.` };
  }
  if (prefill.kind !== null) {
    const kind = prefill.kind;
    const label = KINDS.find((k) => k.kind === kind)?.label ?? kind;
    const of = active?.connector === kind ? active : accounts.find((a) => a.connector === kind);
    const a = /^[AEIOU]/.test(label) ? "an" : "a";
    return of ? { account: of } : { problem: `The link asks for ${a} ${label} key, and this profile has no ${label} account: add one first.` };
  }
  return active ? { account: active } : { problem: "The link asks for a new key, and this profile has no account yet." };
}
