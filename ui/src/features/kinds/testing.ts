// Test helpers (not bundled: only tests import this file): the core's kinds table as `kinds`
// answers it. The table is generated into the bindings from crates/core (KINDS), so the tests
// cannot drift from it.
import { KINDS, type KindInfo } from "../../ipc";

export { KINDS };

export function kind(k: KindInfo["kind"]): KindInfo {
  return KINDS.find((info) => info.kind === k) as KindInfo;
}
