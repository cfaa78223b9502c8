import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type Account, type IpcError } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";

type Props = { account: Account; onDone: () => void };

/** In place of an account whose session expired: its password signs it in again, nothing else moves. */
export function SignInAgain({ account, onDone }: Props) {
  const queryClient = useQueryClient();
  const [password, setPassword] = useState("");
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await commands.signIn({ service: account.service, email: account.email, password });
      onDone();
      await queryClient.invalidateQueries({ predicate: (q) => q.queryKey.includes(account.id) });
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setPassword("");
      setBusy(false);
    }
  }

  return (
    <form className="banner sign-in-again" onSubmit={submit} aria-label="Sign in again">
      <span>
        <strong>Your session for {account.email} has expired.</strong> Enter the password to sign in again.
      </span>
      <span className="sign-in-again-fields">
        <input
          name="password"
          type="password"
          aria-label="Password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          autoComplete="current-password"
          required
        />
        <button type="submit" className="primary small" disabled={busy || password === ""}>
          Sign in again
        </button>
      </span>
      <ErrorNote error={error} />
    </form>
  );
}
