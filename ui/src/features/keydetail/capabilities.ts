// What the key detail offers, from what the account's service and role allow: each control is
// either enabled or disabled with a sentence saying why.
import type { Account, Capabilities, KeyMeta } from "../../ipc";

export type Allowed = { ok: boolean; reason: string | null };

const yes: Allowed = { ok: true, reason: null };
const no = (reason: string): Allowed => ({ ok: false, reason });

function who(account: Account): string {
  return `This account (${account.role})`;
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
  return {
    edit: !live ? dead : (replaced ?? (caps.update_key ? yes : no(`${who(account)} cannot change keys on its service.`))),
    rotate: !live
      ? dead
      : (replaced ??
        ((caps.create_key && caps.revoke_key) || caps.roll_key ? yes : no(`${who(account)} cannot rotate keys on its service.`))),
    revoke: !live ? dead : caps.revoke_key ? yes : no(`${who(account)} cannot revoke keys on its service.`),
  };
}
