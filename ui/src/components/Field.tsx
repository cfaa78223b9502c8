import { useId, type ReactNode } from "react";

/**
 * A labelled control with its hint or, when there is one, its problem, read out with it. The
 * label names the control and nothing else (the hint is a description, not part of the name).
 * `children` renders the control with the id and description it is given.
 */
export function Field({
  label,
  problem,
  hint,
  children,
}: {
  label: string;
  problem: string | null;
  hint?: string;
  children: (control: { id: string; "aria-describedby": string | undefined }) => ReactNode;
}) {
  const id = useId();
  const describedBy = problem ? `${id}-problem` : hint ? `${id}-hint` : undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-describedby": describedBy })}
      {problem ? (
        <small className="field-error" id={`${id}-problem`}>
          {problem}
        </small>
      ) : (
        hint && (
          <small className="field-hint" id={`${id}-hint`}>
            {hint}
          </small>
        )
      )}
    </div>
  );
}
