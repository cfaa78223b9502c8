// What the edit form sends: only the fields that changed, checked with the New key dialog's rules.
import type { KeyMeta, UpdateKeyInput } from "../../ipc";
import { checkHourlyLimit, checkIps, checkName, checkOrigins, resolveExpiry, type ExpiryChoice } from "../keys/validation";

export type EditExpiry = "keep" | ExpiryChoice;

export type EditValues = {
  name: string;
  scopes: string[];
  origins: string;
  ips: string;
  limit: string;
  expiry: EditExpiry;
  expiryDate: string;
};

export type EditField = "name" | "scopes" | "origins" | "ips" | "limit" | "expiry";

export function initialValues(meta: KeyMeta): EditValues {
  return {
    name: meta.name,
    scopes: [...meta.scopes],
    origins: meta.allowed_origins.join("\n"),
    ips: meta.allowed_ips.join("\n"),
    limit: meta.rate_limit_per_hour === null ? "" : String(meta.rate_limit_per_hour),
    expiry: "keep",
    expiryDate: "",
  };
}

export function problems(v: EditValues, now: Date = new Date()): Record<EditField, string | null> {
  return {
    name: checkName(v.name),
    scopes: v.scopes.length === 0 ? "Choose at least one scope." : null,
    origins: checkOrigins(v.origins).problem,
    ips: checkIps(v.ips).problem,
    limit: checkHourlyLimit(v.limit).problem,
    expiry: v.expiry === "keep" ? null : resolveExpiry(v.expiry, v.expiryDate, now).problem,
  };
}

const sameList = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/** The changes from `meta` to `v`, as the update command takes them; empty when nothing changed. */
export function changes(meta: KeyMeta, v: EditValues, now: Date = new Date()): Omit<UpdateKeyInput, "account_id" | "key_id"> {
  const out: Omit<UpdateKeyInput, "account_id" | "key_id"> = {};
  const name = v.name.trim();
  if (name !== meta.name) out.name = name;
  if (!sameList(v.scopes, meta.scopes)) out.scopes = v.scopes;
  const origins = checkOrigins(v.origins).entries;
  if (!sameList(origins, meta.allowed_origins)) out.allowed_origins = origins;
  const ips = checkIps(v.ips).entries;
  if (!sameList(ips, meta.allowed_ips)) out.allowed_ips = ips;
  const limit = checkHourlyLimit(v.limit).limit;
  if (limit !== meta.rate_limit_per_hour) out.rate_limit_per_hour = { value: limit };
  if (v.expiry !== "keep") {
    const { expiresAt } = resolveExpiry(v.expiry, v.expiryDate, now);
    if (expiresAt === null) {
      if (meta.expires_at !== null) out.expires_at = "";
    } else {
      out.expires_at = expiresAt;
    }
  }
  return out;
}
