// `keyhaven://` links. Anything on this computer (a web page, a chat message, another program)
// can open one, so a link only ever fills in the New key form for the person to check and
// confirm: it never creates anything by itself, and what it carries is checked here first.
//
//   keyhaven://new-key?name=deploy%20bot&scopes=read,write

import { MAX_NAME_CHARS, checkName, quote } from "../keys/validation";

export const SCHEME = "keyhaven:";
/** Longest link accepted, in characters; a longer one is refused whole. */
export const MAX_LINK_CHARS = 2048;
const KNOWN_PARAMS = new Set(["name", "scopes"]);

/** A New key form to prefill, with what was wrong in the link (and therefore left out). */
export type NewKeyPrefill = {
  name: string;
  /** Scopes the link asked for that the service offers; null when it named none. */
  scopes: string[] | null;
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

  return { kind: "new-key", prefill: { name, scopes, problems } };
}
