import type { KeyCheck, Quota } from "../../ipc";
import { formatCount, relativePast, relativeTime } from "../../lib/format";
import { VERDICT_LABEL } from "./useKinds";

/** A key's last check as a short mark: works, refused (broken), limited, could not tell, or not checked. */
export function VerdictMark({ check }: { check: KeyCheck | undefined }) {
  if (!check) {
    return (
      <span className="verdict verdict-none" data-verdict="none" title="Stored without a check">
        not checked
      </span>
    );
  }
  return (
    <span className={`verdict verdict-${check.verdict}`} data-verdict={check.verdict} title={check.message}>
      {VERDICT_LABEL[check.verdict]}
    </span>
  );
}

/** What the daily quota looks like, as AniKura's answer tells it. */
export function quotaText(quota: Quota, now: Date = new Date()): string {
  const resets = `resets ${relativeTime(quota.resets_at, now)} (${new Date(quota.resets_at).toUTCString().slice(17, 22)} UTC)`;
  if (quota.remaining === null) return `No daily cap on this tier; the count ${resets}.`;
  const of = quota.limit !== null ? ` of ${formatCount(quota.limit)}` : "";
  return `${formatCount(quota.remaining)}${of} calls left today; ${resets}.`;
}

/** A check in full: the verdict, when, what the service said, and the quota when it tells one. */
export function KeyCheckView({ check, now = new Date() }: { check: KeyCheck | undefined; now?: Date }) {
  if (!check) {
    return (
      <p className="check-result" data-testid="key-check">
        <VerdictMark check={check} /> <span className="muted">This key was stored without a check. Check it now to see whether it works.</span>
      </p>
    );
  }
  return (
    <div className="check-result" data-testid="key-check">
      <p>
        <VerdictMark check={check} />{" "}
        <span className="muted" title={check.at}>
          checked {relativePast(check.at, now)}
        </span>
      </p>
      <p className="check-message">{check.message}</p>
      {check.quota && (
        <p className="quota" data-testid="quota">
          {quotaText(check.quota, now)}
        </p>
      )}
    </div>
  );
}
