// Small pieces every page uses: times, statuses, problems, confirmations.
import { useEffect, useRef, useState, type ReactNode } from "react";

import { ApiError, type JobStatus } from "../api/client";
import { timeText, utcText } from "../lib/time";
import { usePreferences } from "./preferences";

/** A time as the person chose to read it, with the absolute UTC time on hover. */
export function Time({ value }: { value: string | null | undefined }) {
  const { times } = usePreferences();
  if (!value) return <span className="muted">—</span>;
  const date = new Date(value);
  return (
    <time dateTime={value} title={utcText(date)}>
      {timeText(date, times)}
    </time>
  );
}

export function StatusBadge({ status }: { status: JobStatus }) {
  return <span className={`status status-${status}`}>{status}</span>;
}

/** What went wrong with a call, in words; unavailable servers named. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const text =
    error instanceof ApiError
      ? error.status === 0
        ? "The API cannot be reached."
        : `${error.problem.title}${error.problem.detail ? `: ${error.problem.detail}` : ""}`
      : "Something went wrong.";
  return (
    <p role="alert" className="error-note">
      {text}
    </p>
  );
}

/** The message the API gave for `field`, shown next to that field. */
export function FieldError({ id, error, field }: { id: string; error: unknown; field: string }) {
  const message = error instanceof ApiError ? error.fieldError(field) : undefined;
  if (!message) return null;
  return (
    <span id={id} className="field-error" role="alert">
      {message}
    </span>
  );
}

interface ConfirmProps {
  title: string;
  body: ReactNode;
  confirmLabel: string;
  /** When set, the person types this to enable the button (a big destructive action). */
  typeToConfirm?: string;
  onConfirm(): void;
  onClose(): void;
}

/** A modal confirmation for destructive or steering actions. */
export function ConfirmDialog({ title, body, confirmLabel, typeToConfirm, onConfirm, onClose }: ConfirmProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [typed, setTyped] = useState("");
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  const ready = !typeToConfirm || typed === typeToConfirm;
  return (
    <dialog ref={dialog} aria-labelledby="confirm-title" onClose={onClose} className="confirm">
      <h2 id="confirm-title">{title}</h2>
      <div>{body}</div>
      {typeToConfirm && (
        <label>
          Type {typeToConfirm} to confirm
          <input value={typed} onChange={(e) => setTyped(e.target.value)} autoFocus />
        </label>
      )}
      <div className="actions">
        <button type="button" onClick={() => dialog.current?.close()}>
          Cancel
        </button>
        <button
          type="button"
          className="danger"
          disabled={!ready}
          onClick={() => {
            onConfirm();
            dialog.current?.close();
          }}
        >
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** A button that asks first. */
export function ConfirmButton({
  label,
  accessibleName,
  title,
  body,
  confirmLabel,
  onConfirm,
  disabled,
  className,
}: {
  label: string;
  accessibleName?: string;
  title: string;
  body: ReactNode;
  confirmLabel: string;
  onConfirm(): void;
  disabled?: boolean;
  className?: string;
}) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button
        type="button"
        aria-label={accessibleName}
        onClick={() => setOpen(true)}
        disabled={disabled}
        className={className}
      >
        {label}
      </button>
      {open && (
        <ConfirmDialog
          title={title}
          body={body}
          confirmLabel={confirmLabel}
          onConfirm={onConfirm}
          onClose={() => setOpen(false)}
        />
      )}
    </>
  );
}
