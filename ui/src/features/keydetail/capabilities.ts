// What the key detail offers, from what the account's service and role allow: each control is
// either enabled or disabled with a sentence saying why. What a service cannot do is said with its
// name and where it is done, both from the core's kinds table.
import type { Account, Capabilities, KeyMeta, KindInfo } from "../../ipc";

export type Allowed = { ok: boolean; reason: string | null };

const yes: Allowed = { ok: true, reason: null };
const no = (reason: string): Allowed => ({ ok: false, reason });

function who(account: Account): string {
  return `This account (${account.role})`;
}

/** The name of an account's service when it is not Keyhaven's own. */
function serviceOf(account: Account, kind: KindInfo | undefined): string | null {
  return account.connector === "native" ? null : (kind?.label ?? null);
}

/** Why a control is off: the service cannot do it (and where it is done), or the role may not. */
function cannot(account: Account, kind: KindInfo | undefined, what: string, elsewhere: string): string {
  const service = serviceOf(account, kind);
  return service ? `${service} cannot ${what}: ${elsewhere}` : `${who(account)} cannot ${what} on its service.`;
}

/**
 * How a key of this service is rotated, or null when it cannot be: `roll` (a new secret, the old
 * one kept for a grace period: Keyhaven's own service), `twin` (a new key with the same settings,
 * checked, then the old one deleted: TokenKit, for the keys Keyhaven made), or `guided` (the
 * person makes the new key on the service's page and pastes it: the services without a key API,
 * and Animus).
 */
export type RotationMode = "roll" | "twin" | "guided";

export function rotation(caps: Capabilities | undefined): RotationMode | null {
  if (!caps) return null;
  if (caps.roll_key) return "roll";
  if (caps.guided_rotation) return "guided";
  if (caps.create_key && caps.revoke_key) return "twin";
  return null;
}

/** `kind`: the account's kind as the core's table describes it (its label and key page). */
export function allowed(account: Account, caps: Capabilities | undefined, meta: KeyMeta, kind?: KindInfo) {
  const live = meta.status !== "revoked" && meta.status !== "expired";
  if (!caps) {
    const wait = no("Checking what this account can do…");
    return { edit: wait, rotate: wait, revoke: wait, forget: wait };
  }
  const dead = no(`This key is ${meta.status}.`);
  const page = kind?.key_page ?? "its dashboard";
  // A key a rotation replaced lives on only for its grace period: changes go to its replacement.
  const replaced = meta.replaced_by ? no("A rotation replaced this key: change or rotate its replacement instead.") : null;
  const how = rotation(caps);
  const rotateReason = cannot(account, kind, "rotate keys", `do it in ${page}.`);
  return {
    edit: !live ? dead : (replaced ?? (caps.update_key ? yes : no(cannot(account, kind, "change keys", "make a new one with the settings you want.")))),
    rotate: !live ? dead : (replaced ?? (how ? yes : no(rotateReason))),
    revoke: !live ? dead : caps.revoke_key ? yes : no(cannot(account, kind, "revoke keys", `do it in ${page}.`)),
    // A key Keyhaven only holds (the service lists none) is removed here, whatever its state.
    forget: caps.local_keys ? yes : no("Keys of this service are revoked, not removed."),
  };
}
