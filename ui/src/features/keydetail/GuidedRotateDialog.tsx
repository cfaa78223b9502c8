import { useEffect, useRef, useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type GuidedOutcome, type GuidedView, type IpcError, type KeyMeta, type KindInfo } from "../../ipc";
import { Dialog } from "../../components/Dialog";
import { ErrorNote } from "../../components/ErrorNote";
import { Field } from "../../components/Field";
import { keysKey } from "../keys/useKeys";
import { KeyLabel } from "./RotateDialog";
import { guidedKey } from "./useGuided";

type Props = {
  accountId: string;
  meta: KeyMeta;
  kind: KindInfo | undefined;
  onClose: () => void;
  /** The rotation completed: the new key's id. */
  onCompleted?: (newKeyId: string) => void;
};

/**
 * Guided rotation, for a key made on its service's own page (AniKura, Ananke Labs, WaniKani, any
 * other service) or in its app (Animus). Two steps, each confirmed by the person: paste the new
 * key (a password field, never bound to React state: the page never writes it out), which is
 * checked and put in use; then delete the old key there and confirm, which completes only once
 * the service refuses it (Animus: Keyhaven revokes it). The rotation is kept by the core between
 * steps: closing this dialog, or the window, leaves it in progress, to continue from the key.
 */
export function GuidedRotateDialog({ accountId, meta, kind, onClose, onCompleted }: Props) {
  const queryClient = useQueryClient();
  const secretRef = useRef<HTMLInputElement>(null);
  const [view, setView] = useState<GuidedView | null>(null);
  const [hasSecret, setHasSecret] = useState(false);
  const [unverified, setUnverified] = useState(false);
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState<null | "start" | "new" | "confirm" | "cancel">("start");
  const [waiting, setWaiting] = useState<string | null>(null);
  const [done, setDone] = useState<Extract<GuidedOutcome, { outcome: "completed" }> | null>(null);
  const [cancelled, setCancelled] = useState<string | null>(null);
  const [error, setError] = useState<IpcError | null>(null);

  const rotation = view?.rotation ?? null;
  const service = rotation?.service ?? kind?.label ?? "the service";
  const keyPage = rotation?.key_page ?? kind?.key_page ?? "the service's own settings";
  const listed = rotation?.listed ?? false;
  const generic = kind?.kind === "generic";
  const step = rotation?.step ?? null;
  const secretError = error?.code === "validation" && error.field === "secret" ? error.message : null;
  const secretProblem = (tried && !hasSecret ? "Paste the new key." : null) ?? secretError;

  useEffect(() => {
    let gone = false;
    commands
      .beginGuidedRotation({ account_id: accountId, key_id: meta.id })
      .then((v) => {
        if (!gone) setView(v);
      })
      .catch((err) => {
        if (!gone) setError(toIpcError(err));
      })
      .finally(() => {
        if (!gone) setBusy(null);
        void queryClient.invalidateQueries({ queryKey: guidedKey });
      });
    return () => {
      gone = true;
    };
  }, [accountId, meta.id, queryClient]);

  async function refreshLists() {
    await Promise.all([
      queryClient.invalidateQueries({ queryKey: guidedKey }),
      queryClient.invalidateQueries({ queryKey: keysKey(accountId) }),
    ]);
  }

  async function takeNewKey(e: FormEvent) {
    e.preventDefault();
    setTried(true);
    const secret = secretRef.current?.value ?? "";
    if (!rotation || secret.trim() === "") {
      secretRef.current?.focus();
      return;
    }
    setBusy("new");
    setError(null);
    try {
      const next = await commands.guidedNewKey({ rotation_id: rotation.id, secret, unverified: unverified && !listed });
      if (secretRef.current) secretRef.current.value = "";
      setHasSecret(false);
      setTried(false);
      setView(next);
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setBusy(null);
      await refreshLists();
    }
  }

  async function confirm(withoutCheck: boolean) {
    if (!rotation) return;
    setBusy("confirm");
    setError(null);
    try {
      const outcome = await commands.guidedConfirmDeleted({ rotation_id: rotation.id, without_check: withoutCheck });
      if (outcome.outcome === "completed") {
        setWaiting(null);
        setDone(outcome);
      } else {
        setView({ rotation: outcome.rotation, instructions: view?.instructions ?? "" });
        setWaiting(outcome.message);
      }
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setBusy(null);
      await refreshLists();
    }
  }

  async function cancel() {
    if (!rotation) return;
    setBusy("cancel");
    setError(null);
    try {
      const stopped = await commands.cancelGuidedRotation({ rotation_id: rotation.id });
      setCancelled(
        stopped.step === "delete_old"
          ? `Rotation stopped. The new key stays in use, and the old key (${stopped.old_key_prefix}…) stays in Keyhaven until you remove it.`
          : "Rotation stopped. Nothing changed: the old key is still the one in use.",
      );
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setBusy(null);
      await refreshLists();
    }
  }

  function finish() {
    onClose();
    if (done) onCompleted?.(done.new_key_id);
  }

  const whatStays =
    step === "delete_old"
      ? "Cancel stops the rotation: the new key stays in use, and the old one stays in Keyhaven."
      : "Cancel stops the rotation: nothing changes, the old key stays in use.";

  return (
    <Dialog title="Rotate key" onClose={done ? finish : onClose} wide>
      <div className="form guided" aria-label="Guided rotation" data-step={done ? "completed" : cancelled ? "cancelled" : (step ?? "starting")}>
        <p>
          <KeyLabel meta={meta} />: {service} keys are made in {keyPage}, so you make
          the new key there and Keyhaven does the rest.
        </p>
        {busy === "start" && (
          <p className="muted" role="status">
            Starting…
          </p>
        )}
        {done ? (
          <p className="outcome ok" role="status" data-outcome="completed">
            Rotated. The new key is stored and in use;{" "}
            {listed ? `the old key is revoked on ${service}.` : `${service} refuses the old key, and Keyhaven no longer holds it.`}
          </p>
        ) : cancelled ? (
          <p className="outcome warn" role="status" data-outcome="cancelled">
            {cancelled}
          </p>
        ) : (
          rotation && (
            <>
              <ol className="guided-steps" aria-label="Steps">
                <li data-current={step !== "delete_old"} data-done={step === "delete_old"}>
                  Make the new key {listed ? `in ${keyPage}` : "there"} and paste it here
                </li>
                <li data-current={step === "delete_old"}>
                  {listed ? "Keyhaven revokes the old key" : "Delete the old key there and confirm"}
                </li>
              </ol>
              <p className="instructions" data-testid="guided-instructions">
                {view?.instructions}
              </p>
              {step !== "delete_old" ? (
                <form className="form" onSubmit={takeNewKey} aria-label="The new key" noValidate>
                  <Field
                    label="New key"
                    problem={secretProblem}
                    hint={
                      listed
                        ? `Make it in ${keyPage} first: Keyhaven finds it in ${service}'s list. Pasted keys are never shown again.`
                        : "Pasted keys are never shown again."
                    }
                  >
                    {(control) => (
                      <input
                        {...control}
                        ref={secretRef}
                        name="new-secret"
                        type="password"
                        autoComplete="off"
                        spellCheck={false}
                        autoFocus
                        aria-invalid={secretProblem !== null}
                        onChange={(e) => {
                          setHasSecret(e.target.value.trim() !== "");
                          setError(null);
                        }}
                      />
                    )}
                  </Field>
                  {!listed && (
                    <label className="check store-unchecked">
                      <input
                        type="checkbox"
                        name="unverified"
                        checked={unverified}
                        onChange={(e) => setUnverified(e.target.checked)}
                      />
                      <span>
                        Store without checking
                        <small className="muted">For when {service} cannot be reached now, or cannot check keys.</small>
                      </span>
                    </label>
                  )}
                  {error?.code === "unauthorized" && (
                    <p className="error" role="alert" data-testid="new-key-refused">
                      {service} refused this key: it is unknown there, was deleted, or has expired. Nothing changed.
                    </p>
                  )}
                  {busy === "new" && (
                    <p className="muted" role="status">
                      {unverified && !listed ? "Storing the new key…" : `Checking the new key with ${service}…`}
                    </p>
                  )}
                  <div className="actions">
                    <button type="submit" className="primary" disabled={busy !== null}>
                      {busy === "new" ? "Checking…" : unverified && !listed ? "Store and switch" : "Check and switch"}
                    </button>
                  </div>
                </form>
              ) : (
                <>
                  {waiting && (
                    <p className="outcome warn" role="alert" data-outcome="waiting">
                      {waiting}
                    </p>
                  )}
                  {busy === "confirm" && (
                    <p className="muted" role="status">
                      {listed ? `Revoking the old key on ${service}…` : `Asking ${service} whether it still takes the old key…`}
                    </p>
                  )}
                  <div className="actions">
                    {generic && (
                      <button
                        type="button"
                        className="secondary"
                        disabled={busy !== null}
                        title="For a key that cannot be checked: complete on your word"
                        onClick={() => void confirm(true)}
                      >
                        Confirm without a check
                      </button>
                    )}
                    <button type="button" className="primary" disabled={busy !== null} onClick={() => void confirm(false)}>
                      {listed ? "Revoke the old key" : "I deleted the old key — confirm"}
                    </button>
                  </div>
                </>
              )}
            </>
          )
        )}
        {!(error?.code === "unauthorized" && step !== "delete_old") && !secretError && <ErrorNote error={error} />}
        <div className="actions">
          {done || cancelled ? (
            <button type="button" className="primary" onClick={finish}>
              Done
            </button>
          ) : (
            <>
              {rotation && (
                <small className="muted what-stays" data-testid="what-stays">
                  {whatStays} Close keeps it in progress: continue from the key.
                </small>
              )}
              <button type="button" className="secondary" onClick={onClose} disabled={busy === "new" || busy === "confirm"}>
                Close
              </button>
              {rotation && (
                <button type="button" className="danger-outline" onClick={() => void cancel()} disabled={busy !== null}>
                  Cancel rotation
                </button>
              )}
            </>
          )}
        </div>
      </div>
    </Dialog>
  );
}
