// One job: status and live progress, payload and result, every attempt, and what to do.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";

import { api, call, type Job, type Queue, type Worker } from "../api/client";
import { member, parseLossless, type JsonNode } from "../lib/lossless";
import { durationText } from "../lib/time";
import { JsonView } from "../ui/JsonView";
import { ConfirmButton, ErrorNote, StatusBadge, Time } from "../ui/parts";
import { useLiveOptions } from "../ui/preferences";
import { useCan } from "../ui/session";

const WAITING = new Set(["queued", "scheduled"]);

/** Why a waiting job is not running yet, from what the API shows of its queue and the workers. */
export function whyNotRunning(job: Job, queue: Queue | undefined, workers: Worker[], now: Date = new Date()): string[] {
  if (!WAITING.has(job.status)) return [];
  const reasons: string[] = [];
  if (queue?.paused) reasons.push(`Its queue "${job.queue}" is paused.`);
  const serving = workers.filter((w) => w.alive && w.queues.includes(job.queue));
  if (serving.length === 0) reasons.push(`No live worker takes jobs from the queue "${job.queue}".`);
  else if (!serving.some((w) => w.job_types.includes(job.type)))
    reasons.push(`No live worker on "${job.queue}" has a handler for "${job.type}".`);
  const due = new Date(job.run_at);
  if (job.status === "scheduled" && due > now) reasons.push(`It is scheduled for later.`);
  if (reasons.length === 0) {
    const free = serving.reduce((sum, w) => sum + Math.max(0, w.concurrency - w.running), 0);
    reasons.push(
      free === 0
        ? "Every slot of the workers on its queue is busy: it waits for a free one."
        : `It waits its turn: ${queue?.ready ?? "some"} job(s) are ready on its queue.`,
    );
  }
  return reasons;
}

interface JobDocument {
  job: Job;
  /** Payload and result as written, numbers exact (JSON.parse would round big integers). */
  payload: JsonNode | null;
  result: JsonNode | null;
}

/** The job, read as text once and parsed twice: typed for the page, lossless for its JSON. */
async function fetchJob(jobId: string): Promise<JobDocument> {
  const text = await call(api.GET("/v1/jobs/{job_id}", { params: { path: { job_id: jobId } }, parseAs: "text" }));
  const tree = parseLossless(text);
  const result = member(tree, "result");
  return {
    job: JSON.parse(text) as Job,
    payload: member(tree, "payload") ?? null,
    result: result && result.t !== "null" ? result : null,
  };
}

export function JobDetailPage({ jobId }: { jobId: string }) {
  const live = useLiveOptions(1000);
  const can = useCan();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const job = useQuery({ queryKey: ["job", jobId], queryFn: () => fetchJob(jobId), ...live });
  const waiting = job.data !== undefined && WAITING.has(job.data.job.status);
  const queues = useQuery({
    queryKey: ["queues"],
    queryFn: () => call(api.GET("/v1/queues")),
    enabled: waiting,
    ...live,
  });
  const workers = useQuery({
    queryKey: ["workers"],
    queryFn: () => call(api.GET("/v1/workers")),
    enabled: waiting,
    ...live,
  });

  const act = useMutation({
    mutationFn: async (action: "cancel" | "retry" | "delete" | "run-now") => {
      const params = { params: { path: { job_id: jobId } } };
      if (action === "run-now") await call(api.POST("/v1/jobs/{job_id}/run-now", params));
      else if (action === "cancel") await call(api.POST("/v1/jobs/{job_id}/cancel", params));
      else if (action === "retry") await call(api.POST("/v1/jobs/{job_id}/retry", params));
      else await call(api.DELETE("/v1/jobs/{job_id}", params));
      return action;
    },
    onSuccess: (action) => {
      if (action === "delete") void navigate({ to: "/jobs" });
      else void queryClient.invalidateQueries({ queryKey: ["job", jobId] });
    },
  });

  if (job.isPending) return <p aria-busy="true">Loading job {jobId}…</p>;
  if (job.isError)
    return (
      <section>
        <h1>Job {jobId}</h1>
        <ErrorNote error={job.error} />
        <Link to="/jobs">All jobs</Link>
      </section>
    );
  const j = job.data.job;
  const finished = ["succeeded", "dead", "cancelled"].includes(j.status);
  const queue = queues.data?.queues.find((q) => q.name === j.queue);
  const reasons = waiting ? whyNotRunning(j, queue, workers.data?.workers ?? []) : [];

  return (
    <section aria-labelledby="job-title">
      <h1 id="job-title">
        Job <span className="mono">{j.id}</span>
      </h1>
      <dl className="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={j.status} />
            {j.cancel_requested_at && j.status === "running" && <span> (cancel requested)</span>}
          </dd>
        </div>
        <div>
          <dt>Type</dt>
          <dd>{j.type}</dd>
        </div>
        <div>
          <dt>Queue</dt>
          <dd>{j.queue}</dd>
        </div>
        <div>
          <dt>Attempts</dt>
          <dd>
            {j.attempts} of {j.max_attempts}
          </dd>
        </div>
        <div>
          <dt>Priority</dt>
          <dd>{j.priority}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <Time value={j.created_at} />
          </dd>
        </div>
        <div>
          <dt>Runs at</dt>
          <dd>
            <Time value={j.run_at} />
          </dd>
        </div>
        <div>
          <dt>Worker</dt>
          <dd className="mono">{j.worker_id ?? "—"}</dd>
        </div>
        {j.cloned_from && (
          <div>
            <dt>Cloned from</dt>
            <dd>
              <Link to="/jobs/$jobId" params={{ jobId: j.cloned_from }} className="mono">
                {j.cloned_from}
              </Link>
            </dd>
          </div>
        )}
        <div>
          <dt>Tags</dt>
          <dd>{j.tags.length ? j.tags.join(", ") : "—"}</dd>
        </div>
      </dl>
      {(j.status === "running" || j.progress !== null) && (
        <div className="progress">
          <label htmlFor="job-progress">Progress</label>
          <progress id="job-progress" max={1} value={j.progress ?? 0}>
            {Math.round((j.progress ?? 0) * 100)}%
          </progress>
          <span>
            {Math.round((j.progress ?? 0) * 100)}% {j.progress_message ?? ""}
          </span>
        </div>
      )}
      {reasons.length > 0 && (
        <aside aria-labelledby="why-title" className="why">
          <h2 id="why-title">Why isn&apos;t this job running?</h2>
          <ul>
            {reasons.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </aside>
      )}
      {can.write && (
        <div className="actions">
          {!finished && (
            <ConfirmButton
              label="Cancel"
              title="Cancel this job?"
              body={<p>A waiting job will not run; a running one is stopped and not retried.</p>}
              confirmLabel="Cancel job"
              onConfirm={() => act.mutate("cancel")}
            />
          )}
          {j.status === "scheduled" && (
            <button type="button" onClick={() => act.mutate("run-now")}>
              Run now
            </button>
          )}
          {(j.status === "dead" || j.status === "cancelled") && (
            <button type="button" onClick={() => act.mutate("retry")}>
              Retry
            </button>
          )}
          <Link to="/submit" search={{ clone: j.id }} className="button">
            Clone and edit
          </Link>
          {finished && (
            <ConfirmButton
              label="Delete"
              className="danger"
              title="Delete this job?"
              body={<p>Its record and history are removed for good.</p>}
              confirmLabel="Delete job"
              onConfirm={() => act.mutate("delete")}
            />
          )}
          <ErrorNote error={act.error} />
        </div>
      )}
      {j.error && (
        <section aria-labelledby="error-title">
          <h2 id="error-title">Last error</h2>
          <p>
            <strong>{j.error.type}</strong>: {j.error.message}
          </p>
        </section>
      )}
      <div className="two">
        <JsonView node={job.data.payload} label="Payload" />
        <JsonView node={job.data.result} label="Result" />
      </div>
      <section aria-labelledby="attempts-title">
        <h2 id="attempts-title">Attempts</h2>
        {(j.history ?? []).length === 0 ? (
          <p className="muted">No attempt has finished yet.</p>
        ) : (
          <ol className="timeline">
            {(j.history ?? []).map((a) => (
              <li key={a.attempt} className={`outcome-${a.outcome}`}>
                <strong>
                  Attempt {a.attempt}: {a.outcome}
                </strong>{" "}
                on <span className="mono">{a.worker_id ?? "—"}</span>, <Time value={a.started_at} />
                {a.started_at && (
                  <span>
                    {" "}
                    for {durationText((new Date(a.finished_at).getTime() - new Date(a.started_at).getTime()) / 1000)}
                  </span>
                )}
                {a.error && (
                  <details>
                    <summary>
                      {a.error.type}: {a.error.message}
                    </summary>
                    {a.error.traceback && <pre>{a.error.traceback}</pre>}
                  </details>
                )}
              </li>
            ))}
          </ol>
        )}
      </section>
    </section>
  );
}
