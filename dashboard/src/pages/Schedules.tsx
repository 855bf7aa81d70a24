import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { Fragment, useState, type FormEvent } from "react";

import { ApiError, api, call, type Schemas } from "../api/client";
import { parseJsonInput } from "../lib/json";
import { localText, utcText } from "../lib/time";
import { ConfirmButton, ErrorNote, FieldError, StatusBadge, Time } from "../ui/parts";
import { POLL_INTERVAL_MS, SLOW_POLL_MS, useLiveOptions } from "../ui/preferences";
import { useCan } from "../ui/session";

type Schedule = Schemas["ScheduleOut"];
type ScheduleBody = { name: string; cron: string; timezone: string; job: Record<string, unknown> };

/** Create a schedule, or edit `initial`: the server checks the cron and time zone and names the field it refuses. */
function ScheduleForm({ initial, onDone }: { initial?: Schedule; onDone(): void }) {
  const [name, setName] = useState(initial?.name ?? "");
  const [cron, setCron] = useState(initial?.cron ?? "*/5 * * * *");
  const [timezone, setTimezone] = useState(initial?.timezone ?? "UTC");
  const [type, setType] = useState(String(initial?.job.type ?? "jobq.noop"));
  const [payload, setPayload] = useState(JSON.stringify(initial?.job.payload ?? {}, null, 2));
  const [payloadError, setPayloadError] = useState<string | null>(null);
  const types = useQuery({ queryKey: ["job-types"], queryFn: () => call(api.GET("/v1/job-types")) });
  const save = useMutation({
    mutationFn: (body: ScheduleBody) =>
      initial
        ? call(api.PATCH("/v1/schedules/{schedule_id}", { params: { path: { schedule_id: initial.id } }, body: body as never }))
        : call(api.POST("/v1/schedules", { body: body as never })),
    onSuccess: onDone,
  });
  const title = initial ? `Edit ${initial.name}` : "New schedule";
  const titleId = initial ? `edit-schedule-${initial.id}` : "new-schedule-title";

  // Two forms may be open at once (a new one and an edit): their ids must differ.
  const errorId = (field: string) => `${titleId}-err-${field.replace(/\W/g, "-")}`;

  function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = parseJsonInput(payload);
    setPayloadError(parsed.error ?? null);
    if (parsed.error !== undefined) return;
    // The same type keeps the job's other settings (queue, priority, attempts, timeout,
    // tags); another type takes that type's defaults.
    const kept = initial && initial.job.type === type ? initial.job : {};
    save.mutate({ name, cron, timezone, job: { ...kept, type, payload: parsed.value } });
  }

  const fieldProps = (field: string) => ({
    "aria-invalid": save.error instanceof ApiError && Boolean(save.error.fieldError(field)),
    "aria-describedby": errorId(field),
  });
  return (
    <form onSubmit={submit} className="form" aria-labelledby={titleId}>
      <h2 id={titleId}>{title}</h2>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required {...fieldProps("name")} />
      </label>
      <FieldError id={errorId("name")} error={save.error} field="name" />
      <label>
        Cron
        <input value={cron} onChange={(e) => setCron(e.target.value)} required {...fieldProps("cron")} />
      </label>
      <FieldError id={errorId("cron")} error={save.error} field="cron" />
      <label>
        Time zone
        <input value={timezone} onChange={(e) => setTimezone(e.target.value)} {...fieldProps("timezone")} />
      </label>
      <FieldError id={errorId("timezone")} error={save.error} field="timezone" />
      <label>
        Job type
        <select value={type} onChange={(e) => setType(e.target.value)} {...fieldProps("job.type")}>
          {(types.data?.job_types ?? [{ name: type }]).map((t) => (
            <option key={t.name}>{t.name}</option>
          ))}
        </select>
      </label>
      <FieldError id={errorId("job.type")} error={save.error} field="job.type" />
      <label>
        Payload (JSON)
        <textarea value={payload} onChange={(e) => setPayload(e.target.value)} rows={4} {...fieldProps("job.payload")} />
      </label>
      {payloadError && (
        <span className="field-error" role="alert">
          {payloadError}
        </span>
      )}
      <FieldError id={errorId("job.payload")} error={save.error} field="job.payload" />
      <div className="actions">
        <button type="submit" disabled={save.isPending}>
          {initial ? "Save schedule" : "Create schedule"}
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
      {save.error instanceof ApiError && !save.error.problem.errors?.length && <ErrorNote error={save.error} />}
    </form>
  );
}

function ScheduleDetails({ id, nextRuns, canWrite }: { id: string; nextRuns: string[]; canWrite: boolean }) {
  const queryClient = useQueryClient();
  const runs = useQuery({
    queryKey: ["schedule-runs", id],
    queryFn: () => call(api.GET("/v1/schedules/{schedule_id}/runs", { params: { path: { schedule_id: id }, query: { limit: 10 } } })),
    ...useLiveOptions(POLL_INTERVAL_MS, false),
  });
  const runNow = useMutation({
    mutationFn: () => call(api.POST("/v1/schedules/{schedule_id}/run", { params: { path: { schedule_id: id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["schedule-runs", id] }),
  });
  return (
    <div className="two">
      <section aria-label="Next runs">
        <h3>Next runs</h3>
        {nextRuns.length === 0 ? (
          <p className="muted">None while paused.</p>
        ) : (
          <ol className="plain">
            {nextRuns.map((at) => (
              <li key={at}>
                <time dateTime={at}>{utcText(new Date(at))}</time> <span className="muted">({localText(new Date(at))} local)</span>
              </li>
            ))}
          </ol>
        )}
      </section>
      <section aria-label="Recent runs">
        <h3>Recent runs</h3>
        {canWrite && (
          <button type="button" onClick={() => runNow.mutate()} disabled={runNow.isPending}>
            Run now
          </button>
        )}
        <ErrorNote error={runNow.error ?? runs.error} />
        <ul className="plain">
          {(runs.data?.jobs ?? []).map((job) => (
            <li key={job.id}>
              <Link to="/jobs/$jobId" params={{ jobId: job.id }} className="mono">
                {job.id.slice(0, 8)}
              </Link>{" "}
              <StatusBadge status={job.status} /> <Time value={job.created_at} />
            </li>
          ))}
        </ul>
        {runs.isSuccess && runs.data.jobs.length === 0 && <p className="muted">It has not run yet.</p>}
      </section>
    </div>
  );
}

export function SchedulesPage() {
  const can = useCan();
  const queryClient = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const schedules = useQuery({
    queryKey: ["schedules"],
    queryFn: () => call(api.GET("/v1/schedules")),
    // Schedules change when someone edits them, not with the work: no stream for them.
    ...useLiveOptions(SLOW_POLL_MS, false),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["schedules"] });
  const act = useMutation({
    mutationFn: ({ id, action }: { id: string; action: "pause" | "resume" | "delete" }) => {
      const params = { params: { path: { schedule_id: id } } };
      if (action === "pause") return call(api.POST("/v1/schedules/{schedule_id}/pause", params));
      if (action === "resume") return call(api.POST("/v1/schedules/{schedule_id}/resume", params));
      return call(api.DELETE("/v1/schedules/{schedule_id}", params));
    },
    onSuccess: refresh,
  });

  return (
    <section aria-labelledby="schedules-title">
      <h1 id="schedules-title">Schedules</h1>
      {can.write && !creating && (
        <button type="button" onClick={() => setCreating(true)}>
          New schedule
        </button>
      )}
      {creating && (
        <ScheduleForm
          onDone={() => {
            setCreating(false);
            void refresh();
          }}
        />
      )}
      <ErrorNote error={schedules.error ?? act.error} />
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Schedule</th>
            <th scope="col">Cron</th>
            <th scope="col">Job type</th>
            <th scope="col">Next run</th>
            <th scope="col">Last run</th>
            <th scope="col">State</th>
            {can.write && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {(schedules.data?.schedules ?? []).map((s) => (
            <Fragment key={s.id}>
            <tr>
              <th scope="row">
                <button
                  type="button"
                  className="j-toggle"
                  aria-expanded={open === s.id}
                  aria-label={`Details of ${s.name}`}
                  onClick={() => setOpen(open === s.id ? null : s.id)}
                />
                {s.name}
              </th>
              <td className="mono">
                {s.cron} ({s.timezone})
              </td>
              <td>{String(s.job.type ?? "")}</td>
              <td>
                <Time value={s.next_run_at} />
              </td>
              <td>
                <Time value={s.last_run_at} />
                {s.last_job_id && (
                  <>
                    {" "}
                    <Link to="/jobs/$jobId" params={{ jobId: s.last_job_id }}>
                      last job
                    </Link>
                  </>
                )}
              </td>
              <td>{s.paused ? <span className="status status-paused">paused</span> : "active"}</td>
              {can.write && (
                <td className="actions">
                  {s.declared_by ? (
                    // Declared in code (an ARQ app's cron_jobs): the next worker start would undo an edit.
                    <span className="muted" title="Change it in the code that declares it">
                      declared in code ({s.declared_by})
                    </span>
                  ) : (
                    <button type="button" aria-label={`Edit ${s.name}`} onClick={() => setEditing(editing === s.id ? null : s.id)}>
                      Edit
                    </button>
                  )}
                  <button
                    type="button"
                    aria-label={`${s.paused ? "Resume" : "Pause"} ${s.name}`}
                    onClick={() => act.mutate({ id: s.id, action: s.paused ? "resume" : "pause" })}
                  >
                    {s.paused ? "Resume" : "Pause"}
                  </button>
                  {!s.declared_by && (
                    <ConfirmButton
                      label="Delete"
                      accessibleName={`Delete ${s.name}`}
                      className="danger"
                      title={`Delete the schedule "${s.name}"?`}
                      body={<p>Jobs it already made are kept.</p>}
                      confirmLabel="Delete schedule"
                      onConfirm={() => act.mutate({ id: s.id, action: "delete" })}
                    />
                  )}
                </td>
              )}
            </tr>
            {editing === s.id && (
              <tr>
                <td colSpan={7}>
                  <ScheduleForm
                    initial={s}
                    onDone={() => {
                      setEditing(null);
                      void refresh();
                    }}
                  />
                </td>
              </tr>
            )}
            {open === s.id && (
              <tr>
                <td colSpan={can.write ? 7 : 6}>
                  <ScheduleDetails id={s.id} nextRuns={s.next_runs ?? []} canWrite={can.write} />
                </td>
              </tr>
            )}
            </Fragment>
          ))}
        </tbody>
      </table>
      {schedules.isSuccess && schedules.data.schedules.length === 0 && <p className="muted">No schedules yet.</p>}
    </section>
  );
}
