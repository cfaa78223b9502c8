// The only door from the UI to Rust: the generated, typed commands plus error normalisation.
// Components import from here and never call `invoke` themselves.
import { commands } from "./bindings";
import type { ErrorKind, IpcError } from "./bindings";

export * from "./bindings";
export { commands };

/** Turns whatever a command rejected with into an `IpcError` the UI can switch on. */
export function toIpcError(e: unknown): IpcError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    return e as IpcError;
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: "internal" as ErrorKind, message };
}
