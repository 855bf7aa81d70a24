import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { Fragment, useState, type FormEvent } from "react";

import { ApiError, api, call } from "../api/client";
import { parseJsonInput } from "../lib/json";
import { localText, utcText } from "../lib/time";
import { ConfirmButton, ErrorNote, FieldError, StatusBadge, Time } from "../ui/parts";
import { POLL_INTERVAL_MS, SLOW_POLL_MS, useLiveOptions } from "../ui/preferences";
import { useCan } from "../ui/session";

function NewSchedule({ onDone }: { onDone(): void }) {
  const [name, setName] = useState("");
  const [cron, setCron] = useState("*/5 * * * *");
  const [timezone, setTimezone] = useState("UTC");
  const [type, setType] = useState("jobq.noop");
  const [payload, setPayload] = useState("{}");
  const [payloadError, setPayloadError] = useState<string | null>(null);
  const types = useQuery({ queryKey: ["job-types"], queryFn: () => call(api.GET("/v1/job-types")) });
  const create = useMutation({
    mutationFn: (body: { name: string; cron: string; timezone: string; job: { type: string; payload: unknown } }) =>
      call(api.POST("/v1/schedules", { body: body as never })),
    onSuccess: onDone,
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = parseJsonInput(payload);
    setPayloadError(parsed.error ?? null);
    if (parsed.error !== undefined) return;
    create.mutate({ name, cron, timezone, job: { type, payload: parsed.value } });
  }

  const fieldProps = (field: string) => ({
    "aria-invalid": create.error instanceof ApiError && Boolean(create.error.fieldError(field)),
    "aria-describedby": `err-${field.replace(/\W/g, "-")}`,
  });
  return (
    <form onSubmit={submit} className="form" aria-labelledby="new-schedule-title">
      <h2 id="new-schedule-title">New schedule</h2>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required {...fieldProps("name")} />
      </label>
      <FieldError id="err-name" error={create.error} field="name" />
      <label>
        Cron
        <input value={cron} onChange={(e) => setCron(e.target.value)} required {...fieldProps("cron")} />
      </label>
      <FieldError id="err-cron" error={create.error} field="cron" />
      <label>
        Time zone
        <input value={timezone} onChange={(e) => setTimezone(e.target.value)} {...fieldProps("timezone")} />
      </label>
      <FieldError id="err-timezone" error={create.error} field="timezone" />
      <label>
        Job type
        <select value={type} onChange={(e) => setType(e.target.value)} {...fieldProps("job.type")}>
          {(types.data?.job_types ?? [{ name: type }]).map((t) => (
            <option key={t.name}>{t.name}</option>
          ))}
        </select>
      </label>
      <FieldError id="err-job-type" error={create.error} field="job.type" />
      <label>
        Payload (JSON)
        <textarea value={payload} onChange={(e) => setPayload(e.target.value)} rows={4} {...fieldProps("job.payload")} />
      </label>
      {payloadError && (
        <span className="field-error" role="alert">
          {payloadError}
        </span>
      )}
      <FieldError id="err-job-payload" error={create.error} field="job.payload" />
      <button type="submit" disabled={create.isPending}>
        Create schedule
      </button>
      {create.error instanceof ApiError && !create.error.problem.errors?.length && <ErrorNote error={create.error} />}
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
        <NewSchedule
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
                  <button
                    type="button"
                    aria-label={`${s.paused ? "Resume" : "Pause"} ${s.name}`}
                    onClick={() => act.mutate({ id: s.id, action: s.paused ? "resume" : "pause" })}
                  >
                    {s.paused ? "Resume" : "Pause"}
                  </button>
                  <ConfirmButton
                    label="Delete"
                    accessibleName={`Delete ${s.name}`}
                    className="danger"
                    title={`Delete the schedule "${s.name}"?`}
                    body={<p>Jobs it already made are kept.</p>}
                    confirmLabel="Delete schedule"
                    onConfirm={() => act.mutate({ id: s.id, action: "delete" })}
                  />
                </td>
              )}
            </tr>
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
