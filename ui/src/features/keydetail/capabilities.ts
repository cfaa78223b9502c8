// What the key detail offers, from what the account's service and role allow: each control is
// either enabled or disabled with a sentence saying why.
import type { Account, Capabilities, KeyMeta } from "../../ipc";

export type Allowed = { ok: boolean; reason: string | null };

const yes: Allowed = { ok: true, reason: null };
const no = (reason: string): Allowed => ({ ok: false, reason });

function who(account: Account): string {
  return `This account (${account.role})`;
}

/** The name of an account's service when it is not Keyhaven's own. */
export function serviceName(account: Account): string | null {
  return account.connector === "tokenkit" ? "TokenKit" : null;
}

/** Why a control is off: the service cannot do it (and where it is done), or the role may not. */
function cannot(account: Account, what: string, elsewhere: string): string {
  const service = serviceName(account);
  return service ? `${service} cannot ${what}: ${elsewhere}` : `${who(account)} cannot ${what} on its service.`;
}

export function allowed(account: Account, caps: Capabilities | undefined, meta: KeyMeta) {
  const live = meta.status !== "revoked" && meta.status !== "expired";
  if (!caps) {
    const wait = no("Checking what this account can do…");
    return { edit: wait, rotate: wait, revoke: wait };
  }
  const dead = no(`This key is ${meta.status}.`);
  // A key a rotation replaced lives on only for its grace period: changes go to its replacement.
  const replaced = meta.replaced_by ? no("A rotation replaced this key: change or rotate its replacement instead.") : null;
  const canRotate = caps.roll_key || (caps.create_key && caps.revoke_key && caps.key_settings);
  const rotateReason =
    caps.create_key && caps.revoke_key && !caps.key_settings
      ? `${serviceName(account) ?? "This service"} does not say a key's origins, IPs or hourly limit, so a new key could not copy them: create one with the settings you want, switch to it, then revoke this one.`
      : cannot(account, "rotate keys", "do it in its dashboard.");
  return {
    edit: !live ? dead : (replaced ?? (caps.update_key ? yes : no(cannot(account, "change keys", "make a new one with the settings you want.")))),
    rotate: !live ? dead : (replaced ?? (canRotate ? yes : no(rotateReason))),
    revoke: !live ? dead : caps.revoke_key ? yes : no(cannot(account, "revoke keys", "do it in its dashboard.")),
  };
}
