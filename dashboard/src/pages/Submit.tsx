// Submit a job: a form drawn from the job type's schema (or raw JSON), checked before it
// is sent, remembered per type; `?clone=<id>` starts from another job, which is kept.
import { useMutation, useQuery } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { useEffect, useMemo, useState, type FormEvent } from "react";

import { ApiError, api, call, type Schemas } from "../api/client";
import { parseJsonInput } from "../lib/json";
import { readJson, writeStored } from "../lib/storage";
import { formFields, validate, valueOf, type Problem, type Schema } from "../lib/schema";
import type { SubmitSearch } from "../router";
import { ErrorNote, FieldError } from "../ui/parts";
import { SchemaForm } from "../ui/SchemaForm";

type JobIn = Schemas["JobIn"];


/** The payload last submitted for `type` in this browser. */
function remembered(type: string): Record<string, unknown> | null {
  const value = readJson(`jobq.payload.${type}`);
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

export function SubmitPage({ search }: { search: SubmitSearch }) {
  const navigate = useNavigate();
  const types = useQuery({ queryKey: ["job-types"], queryFn: () => call(api.GET("/v1/job-types")) });
  const original = useQuery({
    queryKey: ["job", "clone", search.clone],
    queryFn: () => call(api.GET("/v1/jobs/{job_id}", { params: { path: { job_id: search.clone as string } } })),
    enabled: Boolean(search.clone),
  });
  const [type, setType] = useState("");
  const [mode, setMode] = useState<"form" | "raw">("form");
  const [values, setValues] = useState<Record<string, unknown>>({});
  const [inputs, setInputs] = useState<Record<string, string | boolean>>({});
  const [raw, setRaw] = useState("{}");
  const [problems, setProblems] = useState<Problem[]>([]);
  const [queue, setQueue] = useState("");
  const [priority, setPriority] = useState("0");
  const [delay, setDelay] = useState("");
  const [idempotencyKey, setIdempotencyKey] = useState("");
  const [tags, setTags] = useState("");

  const known = types.data?.job_types ?? [];
  const chosen = known.find((t) => t.name === type);
  const schema = (chosen?.payload_schema ?? {}) as Schema;
  const fields = useMemo(() => formFields(schema), [schema]);

  function load(nextType: string, payload: Record<string, unknown>) {
    setType(nextType);
    setValues(payload);
    setInputs({});
    setRaw(JSON.stringify(payload, null, 2));
    setProblems([]);
  }

  useEffect(() => {
    if (original.data) {
      const o = original.data;
      load(o.type, (o.payload ?? {}) as Record<string, unknown>);
      setQueue(o.queue);
      setPriority(String(o.priority));
      setTags(o.tags.join(", "));
    } else if (!search.clone && !type && known[0]) {
      load(known[0].name, remembered(known[0].name) ?? {});
    }
    // Loading is keyed on what arrived, not on every render.
  }, [original.data, known.length, search.clone]);

  const submit = useMutation({
    mutationFn: (job: JobIn) => call(api.POST("/v1/jobs", { body: job })),
    onSuccess: (job) => void navigate({ to: "/jobs/$jobId", params: { jobId: job.id } }),
  });

  /** The payload as the form or the raw text says, with what is wrong with it. */
  function payloadNow(): { payload?: Record<string, unknown>; problems: Problem[] } {
    if (mode === "raw") {
      const parsed = parseJsonInput(raw);
      if (parsed.error !== undefined) return { problems: [{ field: "", message: parsed.error }] };
      return { payload: parsed.value as Record<string, unknown>, problems: [] };
    }
    const payload: Record<string, unknown> = { ...values };
    const found: Problem[] = [];
    for (const field of fields) {
      if (!(field.name in inputs)) continue;
      const { value, error } = valueOf(field, inputs[field.name] ?? "");
      if (error) found.push({ field: field.name, message: error });
      else if (value === undefined) delete payload[field.name];
      else payload[field.name] = value;
    }
    return { payload, problems: found };
  }

  function check(): Record<string, unknown> | null {
    const { payload, problems: found } = payloadNow();
    const all = payload ? [...found, ...validate(schema, payload)] : found;
    setProblems(all);
    return all.length === 0 && payload ? payload : null;
  }

  function switchMode(next: "form" | "raw") {
    const { payload } = payloadNow();
    if (next === "raw" && payload) setRaw(JSON.stringify(payload, null, 2));
    if (next === "form") {
      const parsed = parseJsonInput(raw);
      if (parsed.error === undefined) {
        setValues(parsed.value as Record<string, unknown>);
        setInputs({});
      }
    }
    setMode(next);
  }

  function send(event: FormEvent) {
    event.preventDefault();
    const payload = check();
    if (!payload) return;
    writeStored(`jobq.payload.${type}`, JSON.stringify(payload));
    const job: JobIn & { cloned_from?: string } = {
      type,
      payload: payload as JobIn["payload"],
      priority: Number(priority),
      tags: tags
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean),
    };
    if (queue.trim()) job.queue = queue.trim();
    if (delay.trim()) job.delay_s = Number(delay);
    if (idempotencyKey.trim()) job.idempotency_key = idempotencyKey.trim();
    if (search.clone) job.cloned_from = search.clone;
    submit.mutate(job);
  }

  const error = submit.error;
  const invalid = (field: string) => error instanceof ApiError && Boolean(error.fieldError(field));
  // The API's payload errors ("payload.seconds") join the ones found here, by field.
  const shown = [...problems, ...(error instanceof ApiError ? error.fieldErrorsUnder("payload") : [])];

  return (
    <section aria-labelledby="submit-title">
      <h1 id="submit-title">{search.clone ? "Clone a job" : "Submit a job"}</h1>
      {search.clone && (
        <p>
          A new job, starting from{" "}
          <Link to="/jobs/$jobId" params={{ jobId: search.clone }} className="mono">
            {search.clone}
          </Link>
          , which is kept as it is.
        </p>
      )}
      <ErrorNote error={original.error} />
      <form onSubmit={send} className="form" noValidate>
        <label>
          Job type
          <select
            value={type}
            onChange={(e) => load(e.target.value, remembered(e.target.value) ?? {})}
            aria-invalid={invalid("type")}
            aria-describedby="err-type"
          >
            {known.map((t) => (
              <option key={t.name}>{t.name}</option>
            ))}
          </select>
        </label>
        <FieldError id="err-type" error={error} field="type" />
        {chosen?.description && <p className="muted">{chosen.description}</p>}
        <div className="mode" role="radiogroup" aria-label="Payload as">
          <label className="inline">
            <input type="radio" name="mode" checked={mode === "form"} onChange={() => switchMode("form")} />
            Form
          </label>
          <label className="inline">
            <input type="radio" name="mode" checked={mode === "raw"} onChange={() => switchMode("raw")} />
            Raw JSON
          </label>
        </div>
        {mode === "form" ? (
          <SchemaForm
            fields={fields}
            values={values}
            inputs={inputs}
            problems={shown}
            onInput={(name, input) => {
              setInputs({ ...inputs, [name]: input });
              setProblems(problems.filter((p) => p.field !== name && !p.field.startsWith(`${name}.`)));
            }}
          />
        ) : (
          <>
            <label>
              Payload (JSON)
              <textarea
                value={raw}
                onChange={(e) => setRaw(e.target.value)}
                rows={10}
                className="mono"
                aria-invalid={shown.length > 0}
                aria-describedby="err-payload"
              />
            </label>
            <div id="err-payload">
              {shown.map((p) => (
                <span key={`${p.field}:${p.message}`} className="field-error" role="alert">
                  {p.field ? `${p.field}: ` : ""}
                  {p.message}
                </span>
              ))}
            </div>
          </>
        )}
        <label>
          Queue
          <input
            value={queue}
            onChange={(e) => setQueue(e.target.value)}
            placeholder={chosen?.queue ?? "default"}
            aria-invalid={invalid("queue")}
            aria-describedby="err-queue"
          />
        </label>
        <FieldError id="err-queue" error={error} field="queue" />
        <label>
          Priority
          <input type="number" value={priority} onChange={(e) => setPriority(e.target.value)} aria-invalid={invalid("priority")} aria-describedby="err-priority" />
        </label>
        <FieldError id="err-priority" error={error} field="priority" />
        <label>
          Delay (seconds)
          <input type="number" min={0} step="any" value={delay} onChange={(e) => setDelay(e.target.value)} aria-invalid={invalid("delay_s")} aria-describedby="err-delay" />
        </label>
        <FieldError id="err-delay" error={error} field="delay_s" />
        <label>
          Idempotency key
          <input value={idempotencyKey} onChange={(e) => setIdempotencyKey(e.target.value)} aria-invalid={invalid("idempotency_key")} aria-describedby="err-idempotency" />
        </label>
        <FieldError id="err-idempotency" error={error} field="idempotency_key" />
        <label>
          Tags (comma separated)
          <input value={tags} onChange={(e) => setTags(e.target.value)} aria-invalid={invalid("tags")} aria-describedby="err-tags" />
        </label>
        <FieldError id="err-tags" error={error} field="tags" />
        <FieldError id="err-cloned-from" error={error} field="cloned_from" />
        <button type="submit" disabled={!type || submit.isPending}>
          Submit job
        </button>
        {error instanceof ApiError && !error.problem.errors?.length && <ErrorNote error={error} />}
      </form>
    </section>
  );
}
