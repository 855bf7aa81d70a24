import { useQuery } from "@tanstack/react-query";

import { api, call } from "../api/client";
import { durationText } from "../lib/time";
import { ErrorNote, Time } from "../ui/parts";
import { useLiveOptions } from "../ui/preferences";

// A heartbeat older than this is flagged (workers beat every few seconds).
const STALE_S = 15;

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
    </section>
  );
}
