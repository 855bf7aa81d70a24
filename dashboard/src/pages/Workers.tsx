// Workers: the live ones with their heartbeats; and autoscaling: each WorkerScaler's
// desired against current replicas over time and its latest decisions, from what the
// operator records in PostgreSQL (the API needs no Kubernetes permissions for it).
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";

import { api, call, type Schemas } from "../api/client";
import { durationText } from "../lib/time";
import { ErrorNote, Time } from "../ui/parts";
import { SLOW_POLL_MS, useLiveOptions } from "../ui/preferences";
import { ReplicaChart } from "../ui/ReplicaChart";

// A heartbeat older than this is flagged (workers beat every few seconds).
const STALE_S = 15;
// The operator records every loop (every few seconds): a scaler unseen this long is not observed.
const SCALER_UNSEEN_S = 120;

type Window = "1h" | "24h" | "7d";
const WINDOWS: Record<Window, string> = { "1h": "Last hour", "24h": "Last day", "7d": "Last week" };

function Scaler({ scaler, start, end }: { scaler: Schemas["ScalerOut"]; start: number; end: number }) {
  const unseen = (Date.now() - new Date(scaler.last_seen_at).getTime()) / 1000;
  const title = `${scaler.namespace}/${scaler.name}`;
  return (
    <article className="scaler" aria-labelledby={`scaler-${scaler.namespace}-${scaler.name}`}>
      <h3 id={`scaler-${scaler.namespace}-${scaler.name}`}>{title}</h3>
      <p>
        {scaler.current_replicas} replicas, the policy wants {scaler.desired_replicas}.{" "}
        <span className="muted">
          Recorded <Time value={scaler.last_seen_at} />
        </span>
        {unseen > SCALER_UNSEEN_S && (
          <span className="status status-dead">
            {" "}
            not observed for {durationText(unseen)}: deleted, or no operator is running
          </span>
        )}
      </p>
      <ReplicaChart
        label={`Replicas of ${title}`}
        start={start}
        end={end}
        points={scaler.samples.map((p) => ({
          at: new Date(p.at).getTime(),
          current: p.current_replicas,
          desired: p.desired_replicas,
        }))}
      />
      <table className="list">
        <caption>Latest decisions</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Replicas</th>
            <th scope="col">Reason</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {scaler.decisions.map((d) => (
            <tr key={`${d.at}-${d.reason}`}>
              <td>
                <Time value={d.at} />
              </td>
              <td>{d.from_replicas === d.to_replicas ? `held at ${d.to_replicas}` : `${d.from_replicas} → ${d.to_replicas}`}</td>
              <td className="mono">{d.reason}</td>
              <td>{d.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {scaler.decisions.length === 0 && <p className="muted">No decision recorded yet.</p>}
    </article>
  );
}

function Autoscaling() {
  const [window, setWindow] = useState<Window>("1h");
  const scalers = useQuery({
    queryKey: ["scalers", window],
    queryFn: () => call(api.GET("/v1/scalers", { params: { query: { window } } })),
    // No event carries these; the operator's samples are per minute.
    ...useLiveOptions(SLOW_POLL_MS, false),
  });
  const start = scalers.data ? new Date(scalers.data.start).getTime() : 0;
  const end = scalers.data ? new Date(scalers.data.end).getTime() : 0;
  return (
    <section aria-labelledby="autoscaling-title">
      <h2 id="autoscaling-title">Autoscaling</h2>
      <div role="radiogroup" aria-label="Autoscaling window" className="mode">
        {(Object.keys(WINDOWS) as Window[]).map((w) => (
          <label key={w} className="inline">
            <input type="radio" name="scaler-window" checked={window === w} onChange={() => setWindow(w)} />
            {WINDOWS[w]}
          </label>
        ))}
      </div>
      <ErrorNote error={scalers.error} />
      {(scalers.data?.scalers ?? []).map((s) => (
        <Scaler key={`${s.namespace}/${s.name}`} scaler={s} start={start} end={end} />
      ))}
      {scalers.isSuccess && scalers.data.scalers.length === 0 && (
        <p className="muted">
          No autoscaler recorded anything in this window: the jobq operator records each WorkerScaler it serves here.
        </p>
      )}
    </section>
  );
}

export function WorkersPage() {
  const workers = useQuery({ queryKey: ["workers"], queryFn: () => call(api.GET("/v1/workers")), ...useLiveOptions() });
  const now = Date.now();
  return (
    <section aria-labelledby="workers-title">
      <h1 id="workers-title">Workers</h1>
      <ErrorNote error={workers.error} />
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col">Host</th>
            <th scope="col">Queues</th>
            <th scope="col">Running</th>
            <th scope="col">Heartbeat</th>
            <th scope="col">Version</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {(workers.data?.workers ?? []).map((w) => {
            const age = (now - new Date(w.heartbeat_at).getTime()) / 1000;
            const stale = w.alive && age > STALE_S;
            return (
              <tr key={w.id} className={stale ? "stale" : undefined}>
                <th scope="row" className="mono">
                  {w.id}
                </th>
                <td>
                  {w.hostname} (pid {w.pid})
                </td>
                <td>{w.queues.join(", ")}</td>
                <td>
                  {w.running} of {w.concurrency}
                </td>
                <td>
                  {durationText(Math.max(0, age))} ago
                  {stale && <span className="status status-dead"> stale</span>}
                  {!w.alive && <span className="status status-cancelled"> gone</span>}
                </td>
                <td>{w.version}</td>
                <td>
                  <Time value={w.started_at} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {workers.isSuccess && workers.data.workers.length === 0 && <p className="muted">No worker is running.</p>}
      <Autoscaling />
    </section>
  );
}
