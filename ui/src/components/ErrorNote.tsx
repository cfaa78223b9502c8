import type { IpcError } from "../ipc";

/** An error as a person reads it: the sentence, and what to do when the code says more. */
export function ErrorNote({ error }: { error: IpcError | null }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error.message}
      {hint(error) && <span className="hint"> {hint(error)}</span>}
    </p>
  );
}

export function hint(error: IpcError): string | null {
  switch (error.code) {
    case "unauthorized":
      return "Sign in again to continue.";
    case "network":
      return "Check that the service is running and the address is right.";
    case "keychain_unavailable":
      return "Nothing was stored in a plain file.";
    default:
      return null;
  }
}
