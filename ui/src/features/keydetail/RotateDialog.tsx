import { useEffect, useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import {
  commands,
  toIpcError,
  type Grace,
  type IpcError,
  type KeyMeta,
  type RotationOutcome,
  type RotationProgress,
  type RotationStep,
  type StepStatus,
} from "../../ipc";
import { onRotationProgress } from "../../ipc/events";
import { Dialog } from "../../components/Dialog";
import { ErrorNote } from "../../components/ErrorNote";
import { keysKey } from "../keys/useKeys";

export const GRACE_CHOICES: { value: Grace; label: string }[] = [
  { value: "none", label: "None" },
  { value: "1h", label: "1 hour" },
  { value: "24h", label: "24 hours" },
  { value: "7d", label: "7 days" },
];

type Props = {
  accountId: string;
  meta: KeyMeta;
  onClose: () => void;
  onRotated?: (outcome: RotationOutcome) => void;
  /**
   * `twin` for a service without rolls (TokenKit): a new key with the old one's settings, then
   * the old one deleted at once, as the service cannot let a key expire later. No grace period.
   */
  mode?: "roll" | "twin";
  /** The service's name, for a twin rotation's explanation. */
  service?: string | null;
};

/** One step as shown: its name from the core, where it stands, and what went wrong, if anything. */
type StepLine = { step: RotationStep; status: StepStatus; label: string; detail: string | null };

const STATUS_MARK: Record<StepStatus, string> = { started: "…", done: "✓", failed: "✗", recovering: "↺" };

/** Rotation: pick a grace period, then watch each step the core reports until the outcome. */
export function RotateDialog({ accountId, meta, onClose, onRotated, mode = "roll", service = null }: Props) {
  const queryClient = useQueryClient();
  const twin = mode === "twin";
  const [grace, setGrace] = useState<Grace>(twin ? "none" : "1h");
  const [running, setRunning] = useState(false);
  const [steps, setSteps] = useState<StepLine[]>([]);
  const [outcome, setOutcome] = useState<RotationOutcome | null>(null);
  const [error, setError] = useState<IpcError | null>(null);

  useEffect(() => {
    let unlisten: (() => void) | undefined;
    let gone = false;
    void onRotationProgress((p: RotationProgress) => {
      if (p.account_id !== accountId || p.old_key_id !== meta.id) return;
      setSteps((lines) => {
        const i = lines.findIndex((l) => l.step === p.step);
        const named = p.status === "started" || p.status === "done";
        const line: StepLine = {
          step: p.step,
          status: p.status,
          label: named ? p.message : (lines[i]?.label ?? p.step),
          detail: named ? null : p.message,
        };
        if (i < 0) return [...lines, line];
        const next = [...lines];
        next[i] = line;
        return next;
      });
    }).then((u) => {
      if (gone) u();
      else unlisten = u;
    });
    return () => {
      gone = true;
      unlisten?.();
    };
  }, [accountId, meta.id]);

  async function rotate(e: FormEvent) {
    e.preventDefault();
    setRunning(true);
    setError(null);
    setSteps([]);
    try {
      const result = await commands.rotateKey({ account_id: accountId, key_id: meta.id, grace });
      setOutcome(result);
      onRotated?.(result);
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setRunning(false);
      await queryClient.invalidateQueries({ queryKey: keysKey(accountId) });
    }
  }

  return (
    <Dialog title="Rotate key" onClose={running ? () => undefined : onClose} wide>
      <form className="form" onSubmit={rotate} aria-label="Rotate key">
        {twin ? (
          <p data-testid="twin-explained">
            Keyhaven makes a new {service ?? "service"} key with the same name, origins, IPs and hourly limit as{" "}
            <KeyLabel meta={meta} />, stores it in this computer's keychain and checks it,
            then deletes the old key at once: {service ?? "the service"} cannot keep an old key working for a while, so
            programs using it need the new one straight away. Only keys Keyhaven made can be rotated this way.
          </p>
        ) : (
          <>
            <p>
              <KeyLabel meta={meta} /> gets a new secret, stored in this computer's
              keychain and checked with the service before the old one is retired.
            </p>
            <fieldset className="choice" disabled={running || outcome !== null}>
              <legend>Old key keeps working for</legend>
              {GRACE_CHOICES.map((g) => (
                <label key={g.value}>
                  <input
                    type="radio"
                    name="grace"
                    value={g.value}
                    checked={grace === g.value}
                    onChange={() => setGrace(g.value)}
                  />
                  {g.label}
                </label>
              ))}
            </fieldset>
          </>
        )}
        {steps.length > 0 && (
          <ol className="steps" aria-label="Rotation progress" aria-live="polite">
            {steps.map((s) => (
              <li key={s.step} className={`step step-${s.status}`} data-step={s.step} data-status={s.status}>
                <span className="mark" aria-hidden="true">
                  {STATUS_MARK[s.status]}
                </span>
                <span className="step-name">{s.label}</span>
                {s.detail && <span className="step-detail">{s.detail}</span>}
                <span className="visually-hidden">({s.status})</span>
              </li>
            ))}
          </ol>
        )}
        {outcome && <Outcome outcome={outcome} />}
        <ErrorNote error={error} />
        <div className="actions">
          {outcome ? (
            <button type="button" className="primary" onClick={onClose}>
              Done
            </button>
          ) : (
            <>
              <button type="button" className="secondary" onClick={onClose} disabled={running}>
                Cancel
              </button>
              <button type="submit" className="primary" disabled={running}>
                {running ? "Rotating…" : "Rotate"}
              </button>
            </>
          )}
        </div>
      </form>
    </Dialog>
  );
}

function Outcome({ outcome }: { outcome: RotationOutcome }) {
  switch (outcome.outcome) {
    case "completed":
      return (
        <p className="outcome ok" role="status" data-outcome="completed">
          Rotated. The new key <code>{outcome.new_key.prefix}…</code> is stored and in use;{" "}
          {outcome.old_key_expires_at && Date.parse(outcome.old_key_expires_at) > Date.now()
            ? `the old key keeps working until ${new Date(outcome.old_key_expires_at).toUTCString()}.`
            : "the old key is revoked."}
        </p>
      );
    case "rolled_back":
      return (
        <p className="outcome warn" role="alert" data-outcome="rolled_back">
          Rolled back: the old key is in use as before. {outcome.reason.message}
        </p>
      );
    case "pending":
      return (
        <p className="outcome warn" role="alert" data-outcome="pending">
          Paused at “{outcome.step}”: both keys keep working, and Keyhaven finishes the rotation at its next start.{" "}
          {outcome.reason.message}
        </p>
      );
  }
}

/** A key as a dialog names it: its name, and its prefix when the service gives one. */
export function KeyLabel({ meta }: { meta: KeyMeta }) {
  return (
    <>
      <strong>{meta.name}</strong>
      {meta.prefix && (
        <>
          {" "}
          (<code>{meta.prefix}…</code>)
        </>
      )}
    </>
  );
}
