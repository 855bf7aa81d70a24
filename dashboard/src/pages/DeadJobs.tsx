// Dead jobs grouped by what killed them: retry a few of a group, then the rest.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useState } from "react";

import { api, call, type Schemas } from "../api/client";
import { ConfirmDialog, ErrorNote, Time } from "../ui/parts";
import { SLOW_POLL_MS, useLiveOptions } from "../ui/preferences";
import { useCan } from "../ui/session";

type Group = Schemas["DeadGroupOut"];
// Above this many jobs the person types the count to confirm.
const TYPE_THE_COUNT_ABOVE = 1000;

function RetryGroup({ group, onDone }: { group: Group; onDone(): void }) {
  const [asking, setAsking] = useState<number | null>(null);
  const retry = useMutation({
    mutationFn: (limit: number | undefined) =>
      call(
        api.POST("/v1/dead-groups/{fingerprint}/retry", {
          params: { path: { fingerprint: group.fingerprint } },
          body: limit === undefined ? {} : { limit },
        }),
      ),
    onSuccess: onDone,
  });
  const few = Math.min(5, group.count);
  return (
    <div className="actions">
      <button type="button" onClick={() => setAsking(few)} aria-label={`Retry ${few} of ${group.fingerprint}`}>
        Retry {few}
      </button>
      {group.count > few && (
        <button type="button" onClick={() => setAsking(group.count)} aria-label={`Retry all ${group.count} of ${group.fingerprint}`}>
          Retry all {group.count}
        </button>
      )}
      {retry.data && (
        <span role="status">
          {retry.data.retried} retried, {retry.data.remaining} left
        </span>
      )}
      <ErrorNote error={retry.error} />
      {asking !== null && (
        <ConfirmDialog
          title={`Retry ${asking} dead job(s)?`}
          body={
            <p>
              {group.type}: {group.sample_message}
            </p>
          }
          confirmLabel={`Retry ${asking}`}
          typeToConfirm={asking > TYPE_THE_COUNT_ABOVE ? String(asking) : undefined}
          onConfirm={() => retry.mutate(asking === group.count ? undefined : asking)}
          onClose={() => setAsking(null)}
        />
      )}
    </div>
  );
}

export function DeadJobsPage() {
  const can = useCan();
  const queryClient = useQueryClient();
  const groups = useQuery({
    queryKey: ["dead-groups"],
    queryFn: () => call(api.GET("/v1/dead-groups")),
    ...useLiveOptions(SLOW_POLL_MS, false),
  });
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["dead-groups"] });
    void queryClient.invalidateQueries({ queryKey: ["queues"] });
  };
  return (
    <section aria-labelledby="dead-title">
      <h1 id="dead-title">Dead jobs</h1>
      <p className="muted">
        Grouped by job type, error type and message with ids and numbers set aside.
        {groups.data?.truncated && ` Only the newest ${groups.data.scanned} dead jobs are grouped.`}
      </p>
      <ErrorNote error={groups.error} />
      {(groups.data?.groups ?? []).map((group) => (
        <article key={group.fingerprint} className="group" aria-labelledby={`g-${group.fingerprint}`}>
          <h2 id={`g-${group.fingerprint}`}>
            {group.count} × {group.type}: {group.error_type}
          </h2>
          <p className="mono">{group.message_pattern}</p>
          <p className="muted">
            First <Time value={group.first_finished_at} />, last <Time value={group.last_finished_at} />. Examples:{" "}
            {group.sample_job_ids.map((id) => (
              <Link key={id} to="/jobs/$jobId" params={{ jobId: id }} className="mono">
                {id.slice(0, 8)}
              </Link>
            ))}
          </p>
          {can.write && <RetryGroup group={group} onDone={refresh} />}
        </article>
      ))}
      {groups.isSuccess && groups.data.groups.length === 0 && <p className="muted">No dead jobs.</p>}
    </section>
  );
}
