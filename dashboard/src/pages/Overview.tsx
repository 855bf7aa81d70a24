// Overview: what needs attention, and per queue throughput, failures, run time and
// queue wait over the last hour, day or week, from the rollups the leader computes once
// a minute (the same numbers in every tab; no Prometheus needed).
import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useState } from "react";

import { api, call, type Schemas } from "../api/client";
import { durationText } from "../lib/time";
import { ErrorNote, Time } from "../ui/parts";
import { useLiveOptions } from "../ui/preferences";
import { Sparkline } from "../ui/Sparkline";

type Window = "1h" | "24h" | "7d";
type Summary = Omit<Schemas["StatsBucket"], "start">;

const ms = (value: number | null | undefined) => (value === null || value === undefined ? "—" : durationText(value / 1000));

function Row({ name, summary, buckets }: { name: string; summary: Summary; buckets: Summary[] }) {
  return (
    <tr>
      <th scope="row">
        {name === "all queues" ? (
          name
        ) : (
          <Link to="/jobs" search={{ queue: name }}>
            {name}
          </Link>
        )}
      </th>
      <td>{summary.completed}</td>
      <td>{summary.throughput_per_min === null ? "—" : summary.throughput_per_min.toFixed(1)}</td>
      <td>
        <Sparkline values={buckets.map((b) => b.completed)} label={`Jobs finished in ${name}`} />
      </td>
      <td className={summary.failed > 0 ? "error-note" : undefined}>{summary.failed}</td>
      <td>{summary.dead}</td>
      <td>
        {ms(summary.run_ms_p50)} / {ms(summary.run_ms_p95)}
      </td>
      <td>
        {ms(summary.wait_ms_p50)} / {ms(summary.wait_ms_p95)}
      </td>
    </tr>
  );
}

export function OverviewPage() {
  const [window, setWindow] = useState<Window>("1h");
  // The rollups change once a minute.
  const live = useLiveOptions(60_000, false);
  const stats = useQuery({
    queryKey: ["stats", window],
    queryFn: () => call(api.GET("/v1/stats", { params: { query: { window } } })),
    ...live,
  });
  const attention = useQuery({ queryKey: ["attention"], queryFn: () => call(api.GET("/v1/attention")), ...live });

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <section aria-labelledby="attention-title">
        <h2 id="attention-title">Needs attention</h2>
        <ErrorNote error={attention.error} />
        {attention.isSuccess && attention.data.items.length === 0 && <p className="muted">Nothing needs attention.</p>}
        <div className="cards">
          {(attention.data?.items ?? []).map((item) => (
            <article key={`${item.kind}:${item.queue}:${item.type}`} className={`card card-${item.kind}`}>
              <h3>{item.kind.replace(/_/g, " ")}</h3>
              <p>{item.message}</p>
              {item.queue && (
                <Link to="/jobs" search={{ queue: item.queue }}>
                  Jobs of {item.queue}
                </Link>
              )}
            </article>
          ))}
        </div>
      </section>
      <section aria-labelledby="throughput-title">
        <h2 id="throughput-title">Queues</h2>
        <div role="radiogroup" aria-label="Window" className="mode">
          {(["1h", "24h", "7d"] as const).map((w) => (
            <label key={w} className="inline">
              <input type="radio" name="window" checked={window === w} onChange={() => setWindow(w)} />
              Last {w === "1h" ? "hour" : w === "24h" ? "day" : "week"}
            </label>
          ))}
        </div>
        <ErrorNote error={stats.error} />
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Queue</th>
              <th scope="col">Finished</th>
              <th scope="col">Per minute</th>
              <th scope="col">Trend</th>
              <th scope="col">Failed attempts</th>
              <th scope="col">Dead</th>
              <th scope="col">Run time p50 / p95</th>
              <th scope="col">Queue wait p50 / p95</th>
            </tr>
          </thead>
          <tbody>
            {stats.data && <Row name="all queues" summary={stats.data.total.summary} buckets={stats.data.total.buckets} />}
            {(stats.data?.queues ?? []).map((q) => (
              <Row key={q.queue} name={q.queue} summary={q.summary} buckets={q.buckets} />
            ))}
          </tbody>
        </table>
        {stats.data && (
          <p className="muted">
            Rolled up to <Time value={stats.data.rolled_up_until} />, once a minute by the leader. p50 is averaged over
            the minutes; p95 is the worst minute&apos;s.
          </p>
        )}
      </section>
    </section>
  );
}
