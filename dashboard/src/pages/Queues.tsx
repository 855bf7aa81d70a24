import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";

import { api, call } from "../api/client";
import { durationText } from "../lib/time";
import { ConfirmButton, ErrorNote } from "../ui/parts";
import { useLiveOptions } from "../ui/preferences";
import { Sparkline } from "../ui/Sparkline";
import { useCan } from "../ui/session";

export function QueuesPage() {
  // Pausing a queue steers every producer's work: the API keeps it for admin keys.
  const can = useCan();
  const queryClient = useQueryClient();
  const queues = useQuery({ queryKey: ["queues"], queryFn: () => call(api.GET("/v1/queues")), ...useLiveOptions() });
  // The sparkline's rollups change once a minute, whatever the stream says.
  const stats = useQuery({
    queryKey: ["stats", "1h"],
    queryFn: () => call(api.GET("/v1/stats", { params: { query: { window: "1h" } } })),
    ...useLiveOptions(60_000, false),
  });
  const finished = new Map((stats.data?.queues ?? []).map((q) => [q.queue, q.buckets.map((b) => b.completed)]));
  const toggle = useMutation({
    mutationFn: ({ name, pause }: { name: string; pause: boolean }) =>
      pause
        ? call(api.POST("/v1/queues/{name}/pause", { params: { path: { name } } }))
        : call(api.POST("/v1/queues/{name}/resume", { params: { path: { name } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["queues"] }),
  });

  return (
    <section aria-labelledby="queues-title">
      <h1 id="queues-title">Queues</h1>
      <ErrorNote error={queues.error ?? toggle.error} />
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Queue</th>
            <th scope="col">Ready</th>
            <th scope="col">Scheduled</th>
            <th scope="col">Running</th>
            <th scope="col">Dead</th>
            <th scope="col">Oldest ready</th>
            <th scope="col">Finished, last hour</th>
            <th scope="col">State</th>
            {can.admin && <th scope="col">Action</th>}
          </tr>
        </thead>
        <tbody>
          {(queues.data?.queues ?? []).map((q) => (
            <tr key={q.name}>
              <th scope="row">
                <Link to="/jobs" search={{ queue: q.name }}>
                  {q.name}
                </Link>
              </th>
              <td>{q.ready}</td>
              <td>{q.scheduled}</td>
              <td>{q.running}</td>
              <td>
                {q.dead > 0 ? (
                  <Link to="/jobs" search={{ queue: q.name, status: "dead" }}>
                    {q.dead}
                  </Link>
                ) : (
                  0
                )}
              </td>
              <td>{q.oldest_ready_age_s === null ? "—" : durationText(q.oldest_ready_age_s)}</td>
              <td>
                <Sparkline values={finished.get(q.name) ?? []} label={`Jobs finished in ${q.name} per minute`} />
              </td>
              <td>{q.paused ? <span className="status status-paused">paused</span> : "running"}</td>
              {can.admin && (
                <td>
                  <ConfirmButton
                    label={q.paused ? "Resume" : "Pause"}
                    accessibleName={`${q.paused ? "Resume" : "Pause"} ${q.name}`}
                    title={`${q.paused ? "Resume" : "Pause"} the queue "${q.name}"?`}
                    body={
                      <p>
                        {q.paused
                          ? "Its waiting jobs start running again."
                          : "Its jobs wait until it is resumed; running jobs finish."}
                      </p>
                    }
                    confirmLabel={q.paused ? "Resume queue" : "Pause queue"}
                    onConfirm={() => toggle.mutate({ name: q.name, pause: !q.paused })}
                  />
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {queues.isSuccess && queues.data.queues.length === 0 && <p className="muted">No queue has had a job yet.</p>}
    </section>
  );
}
