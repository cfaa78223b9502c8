import { useState, type FormEvent } from "react";
import { toIpcError, type Capabilities, type IpcError, type KeyMeta } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { Field } from "../../components/Field";
import { EXPIRY_CHOICES } from "../keys/validation";
import { changes, initialValues, problems, type EditField, type EditValues, type EditExpiry } from "./edit";
import { useUpdateKey } from "./useKeyDetail";

type Props = {
  accountId: string;
  meta: KeyMeta;
  scopes: string[];
  /** Why this account cannot change the key, when it cannot: the form is shown read-only. */
  disabledReason?: string | null;
  /** What the service's keys can carry: a setting they cannot is not shown. All when absent. */
  caps?: Capabilities | null;
};

/** Changes a key's settings without a new secret. Each field is checked as it is typed. */
export function EditKeyForm({ accountId, meta, scopes, disabledReason = null, caps = null }: Props) {
  const carries = {
    limit: caps?.rate_limit_per_hour ?? true,
    scopes: caps?.key_scopes ?? true,
    origins: caps?.allowed_origins ?? true,
    ips: caps?.allowed_ips ?? true,
    expiry: caps?.key_expiry ?? true,
  };
  const update = useUpdateKey(accountId, meta.id);
  const [values, setValues] = useState<EditValues>(() => initialValues(meta));
  const [touched, setTouched] = useState<Set<EditField>>(new Set());
  const [error, setError] = useState<IpcError | null>(null);
  const [saved, setSaved] = useState(false);
  const readOnly = disabledReason !== null;
  const found = problems(values);
  const shown = (f: EditField) => (touched.has(f) ? found[f] : null);
  const diff = changes(meta, values);
  const dirty = Object.keys(diff).length > 0;
  // Every scope the key has stays offered, even one the service no longer lists.
  const offered = [...scopes, ...meta.scopes.filter((s) => !scopes.includes(s))];

  function set<K extends keyof EditValues>(field: K, value: EditValues[K], touches: EditField) {
    setValues((v) => ({ ...v, [field]: value }));
    setTouched((t) => (t.has(touches) ? t : new Set(t).add(touches)));
    setSaved(false);
  }

  async function save(e: FormEvent) {
    e.preventDefault();
    setTouched(new Set(["name", "scopes", "origins", "ips", "limit", "expiry"]));
    if (readOnly || !dirty || Object.values(found).some((p) => p !== null)) return;
    setError(null);
    try {
      const next = await update.mutateAsync(diff);
      setValues(initialValues(next));
      setTouched(new Set());
      setSaved(true);
    } catch (err) {
      setError(toIpcError(err));
    }
  }

  return (
    <form className="form edit-key" onSubmit={save} noValidate aria-label="Key settings">
      {readOnly && <p className="muted disabled-reason">{disabledReason}</p>}
      <fieldset className="plain" disabled={readOnly}>
        <div className="row-2">
          <Field label="Name" problem={shown("name")}>
            {(c) => (
              <input
                name="name"
                value={values.name}
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => set("name", e.target.value, "name")}
                aria-invalid={shown("name") !== null}
                {...c}
              />
            )}
          </Field>
          {carries.limit && (
            <Field label="Hourly limit" problem={shown("limit")} hint="Requests per hour; empty for no limit.">
              {(c) => (
                <input
                  name="hourly-limit"
                  inputMode="numeric"
                  autoComplete="off"
                  value={values.limit}
                  placeholder="no limit"
                  onChange={(e) => set("limit", e.target.value, "limit")}
                  aria-invalid={shown("limit") !== null}
                  {...c}
                />
              )}
            </Field>
          )}
        </div>
        {carries.scopes && (
          <fieldset className="choice" aria-describedby={shown("scopes") ? "edit-scopes-problem" : undefined}>
            <legend>Scopes</legend>
            {offered.map((scope) => (
              <label key={scope}>
                <input
                  type="checkbox"
                  name="scope"
                  value={scope}
                  checked={values.scopes.includes(scope)}
                  onChange={() =>
                    set(
                      "scopes",
                      values.scopes.includes(scope) ? values.scopes.filter((s) => s !== scope) : [...values.scopes, scope],
                      "scopes",
                    )
                  }
                />
                {scope}
              </label>
            ))}
            {shown("scopes") && (
              <small className="field-error" id="edit-scopes-problem">
                {shown("scopes")}
              </small>
            )}
          </fieldset>
        )}
        <div className="row-2">
          {carries.origins && (
            <Field label="Allowed origins" problem={shown("origins")} hint="scheme://host[:port], one per line. Empty: any.">
              {(c) => (
                <textarea
                  name="allowed-origins"
                  rows={2}
                  spellCheck={false}
                  value={values.origins}
                  placeholder="https://app.example.com"
                  onChange={(e) => set("origins", e.target.value, "origins")}
                  aria-invalid={shown("origins") !== null}
                  {...c}
                />
              )}
            </Field>
          )}
          {carries.ips && (
            <Field label="Allowed IPs" problem={shown("ips")} hint="Addresses or CIDR blocks. Empty: any.">
              {(c) => (
                <textarea
                  name="allowed-ips"
                  rows={2}
                  spellCheck={false}
                  value={values.ips}
                  placeholder="203.0.113.7, 10.0.0.0/8"
                  onChange={(e) => set("ips", e.target.value, "ips")}
                  aria-invalid={shown("ips") !== null}
                  {...c}
                />
              )}
            </Field>
          )}
        </div>
        {carries.expiry && (
          <div className="row-2">
            <Field
              label="Expires"
              problem={values.expiry === "date" ? null : shown("expiry")}
              hint={meta.expires_at ? `Now: ${new Date(meta.expires_at).toUTCString()}` : "Now: never"}
            >
              {(c) => (
                <select
                  name="expires"
                  value={values.expiry}
                  onChange={(e) => set("expiry", e.target.value as EditExpiry, "expiry")}
                  {...c}
                >
                  <option value="keep">Keep as it is</option>
                  {EXPIRY_CHOICES.map((o) => (
                    <option key={o.value} value={o.value}>
                      {o.label}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            {values.expiry === "date" && (
              <Field label="Expiry date" problem={shown("expiry")} hint="The key stops working at the end of this day.">
                {(c) => (
                  <input
                    name="expiry-date"
                    type="date"
                    value={values.expiryDate}
                    onChange={(e) => set("expiryDate", e.target.value, "expiry")}
                    aria-invalid={shown("expiry") !== null}
                    {...c}
                  />
                )}
              </Field>
            )}
          </div>
        )}
      </fieldset>
      <ErrorNote error={error} />
      <div className="actions">
        {saved && (
          <span className="saved" role="status">
            Saved. The secret did not change.
          </span>
        )}
        <button
          type="submit"
          className="primary"
          disabled={readOnly || !dirty || update.isPending}
          title={disabledReason ?? undefined}
        >
          {update.isPending ? "Saving…" : "Save"}
        </button>
      </div>
    </form>
  );
}
