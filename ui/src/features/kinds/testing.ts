// Test helpers (not bundled: only tests import this file): the core's kinds table as `kinds`
// answers it (crates/core/src/connector/mod.rs, KINDS), and an answer to the `kinds` command.
import type { KindInfo } from "../../ipc";

export const KINDS: KindInfo[] = [
  { kind: "native", label: "Keyhaven", documented_url: null, signs_in: true, key_page: "Keyhaven", key_limit: null, key_prefixes: ["kh_"] },
  {
    kind: "tokenkit",
    label: "TokenKit",
    documented_url: "https://api.tokenkithq.io",
    signs_in: true,
    key_page: "TokenKit's dashboard (Settings → API Keys)",
    key_limit: null,
    key_prefixes: [],
  },
  {
    kind: "anikura",
    label: "AniKura",
    documented_url: "https://api.anikura.io",
    signs_in: false,
    key_page: "AniKura's dashboard (Settings → API Keys)",
    key_limit: 5,
    key_prefixes: ["ak_live_"],
  },
  {
    kind: "ananke",
    label: "Ananke Labs",
    documented_url: "https://api.anankelabs.net",
    signs_in: false,
    key_page: "the Ananke Console (Settings → API Keys)",
    key_limit: null,
    key_prefixes: ["ak_live_"],
  },
  {
    kind: "wanikani",
    label: "WaniKani",
    documented_url: "https://api.wanikani.com",
    signs_in: false,
    key_page: "WaniKani's settings (API Tokens)",
    key_limit: null,
    key_prefixes: [],
  },
  {
    kind: "generic",
    label: "Other service",
    documented_url: null,
    signs_in: false,
    key_page: "the service's own settings",
    key_limit: null,
    key_prefixes: [],
  },
];

export function kind(k: KindInfo["kind"]): KindInfo {
  return KINDS.find((info) => info.kind === k) as KindInfo;
}
