import { useState } from "react";
import type { RotationOutcome } from "../../ipc";
import { Dialog } from "../../components/Dialog";
import { useWatchEvents, useWatchStatus } from "./useUsage";

/** The alerts button for the top bar: a badge with the count, the list in a dialog. */
export function AlertsButton() {
  useWatchEvents();
  const status = useWatchStatus();
  const [open, setOpen] = useState(false);
  const [seen, setSeen] = useState(0);
  const alerts = status.data?.alerts ?? [];
  const unseen = Math.max(0, alerts.length - seen);
  return (
    <>
      <button
        type="button"
        className="secondary small alerts-button"
        onClick={() => {
          setOpen(true);
          setSeen(alerts.length);
        }}
        aria-label={unseen > 0 ? `Alerts, ${unseen} new` : "Alerts"}
      >
        Alerts
        {/* A space before the count: the visible "Alerts 3" is then part of the name "Alerts, 3 new". */}
        {unseen > 0 && (
          <>
            {" "}
            <span className="badge" aria-hidden="true">
              {unseen}
            </span>
          </>
        )}
      </button>
      {open && (
        <Dialog title="Alerts" onClose={() => setOpen(false)} wide>
          {alerts.length === 0 ? (
            <p className="muted">No alerts. Keyhaven warns about expiring keys, usage near a limit and spikes of refused calls.</p>
          ) : (
            <ul className="alert-list">
              {alerts.map((a) => (
                <li key={a.id} className={a.severity}>
                  <strong>{a.key_name ?? "Account"}</strong> — {a.message}
                </li>
              ))}
            </ul>
          )}
        </Dialog>
      )}
    </>
  );
}

/** Rotations resumed at start-up, or still unfinished: the person hears of each. */
export function RotationBanner() {
  const status = useWatchStatus();
  const [dismissed, setDismissed] = useState(false);
  const resumed = status.data?.resumed ?? [];
  const pending = status.data?.pending ?? [];
  if (dismissed || (resumed.length === 0 && pending.length === 0)) return null;
  return (
    <div className="banner" role="status" data-testid="rotation-banner">
      <span>
        {resumed.map((o) => (
          <span key={o.rotation_id}>{describe(o)} </span>
        ))}
        {pending.map((p) => (
          <span key={p.rotation_id}>
            The rotation of <strong>{p.old_key_name}</strong> is unfinished (at “{p.step}”); both keys keep working and it is
            retried at the next start.{" "}
          </span>
        ))}
      </span>
      <button type="button" className="icon" aria-label="Dismiss" onClick={() => setDismissed(true)}>
        ×
      </button>
    </div>
  );
}

function describe(o: RotationOutcome): string {
  switch (o.outcome) {
    case "completed":
      return `An interrupted rotation was finished: ${o.new_key.name} has its new secret.`;
    case "rolled_back":
      return `An interrupted rotation was rolled back; the old key is in use. ${o.reason.message}`;
    case "pending":
      return `An interrupted rotation is still pending: ${o.reason.message}`;
  }
}
