// A payload form drawn from a job type's JSON Schema; each field shows its own error.
import type { FormField, Problem } from "../lib/schema";
import { inputOf } from "../lib/schema";

interface Props {
  fields: FormField[];
  values: Record<string, unknown>;
  inputs: Record<string, string | boolean>;
  problems: Problem[];
  onInput(name: string, input: string | boolean): void;
}

function errorsFor(problems: Problem[], name: string): Problem[] {
  return problems.filter((p) => p.field === name || p.field.startsWith(`${name}.`));
}

export function SchemaForm({ fields, values, inputs, problems, onInput }: Props) {
  if (fields.length === 0) return <p className="muted">This job type takes no fields; use raw JSON for anything else.</p>;
  return (
    <fieldset className="form schema-form">
      <legend>Payload</legend>
      {fields.map((field) => {
        const id = `payload-${field.name}`;
        const errors = errorsFor(problems, field.name);
        const input = inputs[field.name] ?? inputOf(field, values[field.name]);
        const described = [field.description ? `${id}-help` : "", errors.length ? `${id}-error` : ""].filter(Boolean).join(" ");
        const common = {
          id,
          "aria-invalid": errors.length > 0,
          "aria-describedby": described || undefined,
          required: field.required,
        };
        return (
          <div key={field.name} className="schema-field">
            {field.kind === "boolean" ? (
              <label className="inline">
                <input type="checkbox" checked={input === true} onChange={(e) => onInput(field.name, e.target.checked)} {...common} />
                {field.label}
              </label>
            ) : (
              <label htmlFor={id}>
                {field.label}
                {field.required && <span aria-hidden="true"> *</span>}
              </label>
            )}
            {field.kind === "enum" && (
              <select value={String(input)} onChange={(e) => onInput(field.name, e.target.value)} {...common}>
                {!field.required && <option value="">—</option>}
                {field.options?.map((o) => (
                  <option key={o}>{o}</option>
                ))}
              </select>
            )}
            {(field.kind === "string" || field.kind === "number" || field.kind === "integer") && (
              <input
                type={field.kind === "string" ? "text" : "number"}
                step={field.kind === "integer" ? 1 : "any"}
                value={String(input)}
                onChange={(e) => onInput(field.name, e.target.value)}
                {...common}
              />
            )}
            {(field.kind === "lines" || field.kind === "json") && (
              <textarea
                rows={field.kind === "json" ? 4 : 3}
                className="mono"
                value={String(input)}
                onChange={(e) => onInput(field.name, e.target.value)}
                placeholder={field.kind === "lines" ? "one per line" : "JSON"}
                {...common}
              />
            )}
            {field.description && (
              <span id={`${id}-help`} className="muted small-text">
                {field.description}
              </span>
            )}
            {errors.length > 0 && (
              <span id={`${id}-error`} className="field-error" role="alert">
                {errors.map((e) => `${e.field === field.name ? "" : `${e.field}: `}${e.message}`).join("; ")}
              </span>
            )}
          </div>
        );
      })}
    </fieldset>
  );
}
