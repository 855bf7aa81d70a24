// Jobs: state tabs, a search box with qualifiers, keyset pages, bulk actions on a selection.
// Only the rows near the viewport are in the DOM, so a 500-row page stays light while
// the stream patches it.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { useWindowVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useLayoutEffect, useRef, useState, type FormEvent } from "react";

import { api, call, type Job, type JobStatus } from "../api/client";
import { matchText } from "../lib/count";
import { fromFilters, parseSearch, toFilters, type JobFilters } from "../lib/search";
import { ConfirmButton, ErrorNote, StatusBadge, Time } from "../ui/parts";
import { BulkMatching } from "./BulkMatching";
import { useLiveOptions } from "../ui/preferences";
import { useCan } from "../ui/session";

export const STATUSES: JobStatus[] = ["queued", "scheduled", "running", "succeeded", "dead", "cancelled"];
export const PAGE_SIZES = [50, 200, 500] as const;
type PageSize = (typeof PAGE_SIZES)[number];
/** A row's height before it is measured (px); close to the real one, so the scrollbar barely moves. */
const ROW_ESTIMATE_PX = 37;

export interface JobsSearch extends JobFilters {
  cursor?: string;
  limit?: PageSize;
}

/** The URL's search params, checked: a link with junk in it still shows a list. */
export function validateJobsSearch(raw: Record<string, unknown>): JobsSearch {
  const text = (key: string) => (typeof raw[key] === "string" && raw[key] ? (raw[key] as string) : undefined);
  const status = text("status");
  // Repeated (`?payload=a=1&payload=b=2`) or a JSON array, as the router writes it.
  const payload = [raw.payload].flat().filter((f): f is string => typeof f === "string" && f.includes("="));
  return {
    status: status && STATUSES.includes(status as JobStatus) ? status : undefined,
    type: text("type"),
    queue: text("queue"),
    tag: text("tag"),
    id: text("id"),
    error: text("error"),
    payload: payload.length ? payload : undefined,
    cursor: text("cursor"),
    limit: PAGE_SIZES.find((size) => String(size) === String(raw.limit) && size !== PAGE_SIZES[0]),
  };
}

/** The height of the rows not drawn, so the scrollbar is that of the whole page. */
function Spacer({ height, columns }: { height: number; columns: number }) {
  return (
    <tr aria-hidden="true" className="spacer">
      {/* The height is set through the CSSOM, which the strict style-src allows. */}
      <td colSpan={columns} style={{ height }} />
    </tr>
  );
}

function useStateCounts() {
  // Counts per state come from the queue statistics the leader keeps: no COUNT(*) over
  // every job per request. Finished states have no count here.
  const queues = useQuery({ queryKey: ["queues"], queryFn: () => call(api.GET("/v1/queues")), ...useLiveOptions() });
  const totals: Partial<Record<JobStatus, number>> = {};
  for (const q of queues.data?.queues ?? []) {
    totals.queued = (totals.queued ?? 0) + q.ready;
    totals.scheduled = (totals.scheduled ?? 0) + q.scheduled;
    totals.running = (totals.running ?? 0) + q.running;
    totals.dead = (totals.dead ?? 0) + q.dead;
  }
  return totals;
}

export function JobsPage({ search }: { search: JobsSearch }) {
  const navigate = useNavigate({ from: "/jobs" });
  const can = useCan();
  const counts = useStateCounts();
  const [text, setText] = useState(fromFilters(search));
  const [notice, setNotice] = useState<string[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const queryClient = useQueryClient();
  const live = useLiveOptions();

  useEffect(() => setText(fromFilters(search)), [search]);

  const filters = {
    status: search.status ? [search.status as JobStatus] : undefined,
    type: search.type,
    queue: search.queue,
    tag: search.tag,
    error: search.error,
    payload: search.payload,
  };
  const list = useQuery({
    queryKey: ["jobs", search],
    queryFn: () =>
      call(api.GET("/v1/jobs", { params: { query: { ...filters, cursor: search.cursor, limit: search.limit ?? PAGE_SIZES[0] } } })),
    enabled: !search.id,
    // The last page stays on screen while the next one loads.
    placeholderData: keepPreviousData,
    ...live,
  });
  // Refreshed with the lists (ui/LiveUpdates); cheap at any size: exact up to 10,000, an estimate above.
  const matching = useQuery({
    queryKey: ["job-count", filters],
    queryFn: () => call(api.GET("/v1/jobs/count", { params: { query: filters } })),
    enabled: !search.id,
    placeholderData: keepPreviousData,
    ...live,
  });

  const act = useMutation({
    mutationFn: async ({ action, ids }: { action: "cancel" | "retry" | "delete"; ids: string[] }) => {
      for (const id of ids) {
        const params = { params: { path: { job_id: id } } };
        if (action === "cancel") await call(api.POST("/v1/jobs/{job_id}/cancel", params));
        else if (action === "retry") await call(api.POST("/v1/jobs/{job_id}/retry", params));
        else await call(api.DELETE("/v1/jobs/{job_id}", params));
      }
    },
    onSettled: () => {
      setSelected(new Set());
      void queryClient.invalidateQueries({ queryKey: ["jobs"] });
      void queryClient.invalidateQueries({ queryKey: ["queues"] });
    },
  });

  function applySearch(event: FormEvent) {
    event.preventDefault();
    const { filters, unsupported } = toFilters(parseSearch(text));
    setNotice(unsupported);
    if (filters.id) {
      void navigate({ to: "/jobs/$jobId", params: { jobId: filters.id } });
      return;
    }
    void navigate({ search: { ...filters, cursor: undefined } });
  }

  const jobs: Job[] = list.data?.jobs ?? [];
  const body = useRef<HTMLTableSectionElement>(null);
  // Where the rows start in the document: what is above them (tabs, search, notices) moves it.
  const [bodyTop, setBodyTop] = useState(0);
  useLayoutEffect(() => {
    const top = (body.current?.getBoundingClientRect().top ?? 0) + window.scrollY;
    if (Math.abs(top - bodyTop) > 1) setBodyTop(top);
  });
  const rows = useWindowVirtualizer({
    count: jobs.length,
    estimateSize: () => ROW_ESTIMATE_PX,
    overscan: 10,
    scrollMargin: bodyTop,
    getItemKey: (index) => jobs[index]?.id ?? index,
  });
  const shown = rows.getVirtualItems();
  const columns = can.write ? 8 : 7;
  const spaceAbove = (shown[0]?.start ?? rows.options.scrollMargin) - rows.options.scrollMargin;
  const spaceBelow = rows.getTotalSize() - ((shown[shown.length - 1]?.end ?? rows.options.scrollMargin) - rows.options.scrollMargin);
  const chosen = jobs.filter((j) => selected.has(j.id));
  const toggle = (id: string) =>
    setSelected((now) => {
      const next = new Set(now);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <section aria-labelledby="jobs-title">
      <h1 id="jobs-title">Jobs</h1>
      <div role="tablist" aria-label="Job states" className="tabs">
        <Link to="/jobs" search={{ ...search, status: undefined, cursor: undefined }} role="tab" aria-selected={!search.status}>
          All
        </Link>
        {STATUSES.map((status) => (
          <Link
            key={status}
            to="/jobs"
            search={{ ...search, status, cursor: undefined }}
            role="tab"
            aria-selected={search.status === status}
          >
            {status[0]?.toUpperCase() + status.slice(1)}
            {counts[status] !== undefined && <span className="count"> {counts[status]}</span>}
          </Link>
        ))}
      </div>
      <form role="search" onSubmit={applySearch} className="search">
        <label htmlFor="job-search">Search</label>
        <input
          id="job-search"
          type="search"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="type:email.send queue:mail tag:vip id:… (press /)"
        />
        <button type="submit">Search</button>
      </form>
      {notice.length > 0 && (
        <p role="status" className="muted">
          Not filtered on (the list does not support it yet): {notice.join(" ")}
        </p>
      )}
      <ErrorNote error={list.error} />
      {matching.data && (
        <p className="muted match-count" title={matching.data.count.exact ? undefined : "PostgreSQL's estimate: counts are exact up to 10,000"}>
          {matchText(matching.data.count)}
        </p>
      )}
      {can.write && matching.data && (
        <BulkMatching filters={filters} count={matching.data.count} summary={fromFilters(search) || "every job"} />
      )}
      {can.write && (
        <div className="bulk" aria-label="Selected jobs">
          <span>{chosen.length} selected</span>
          {(["retry", "cancel", "delete"] as const).map((action) => (
            <ConfirmButton
              key={action}
              label={`${action[0]?.toUpperCase()}${action.slice(1)} selected`}
              disabled={chosen.length === 0 || act.isPending}
              title={`${action[0]?.toUpperCase()}${action.slice(1)} ${chosen.length} job(s)?`}
              body={<p>This acts on the {chosen.length} selected job(s) only.</p>}
              confirmLabel={`${action[0]?.toUpperCase()}${action.slice(1)} ${chosen.length}`}
              onConfirm={() => act.mutate({ action, ids: chosen.map((j) => j.id) })}
            />
          ))}
          <ErrorNote error={act.error} />
        </div>
      )}
      <table className="list" aria-busy={list.isFetching}>
        <thead>
          <tr>
            {can.write && <th scope="col">Select</th>}
            <th scope="col">Job</th>
            <th scope="col">Type</th>
            <th scope="col">Queue</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Created</th>
            <th scope="col">Tags</th>
          </tr>
        </thead>
        <tbody ref={body}>
          {spaceAbove > 0 && <Spacer height={spaceAbove} columns={columns} />}
          {shown.map((item) => {
            const job = jobs[item.index];
            if (!job) return null;
            return (
              <tr key={job.id} data-index={item.index} ref={rows.measureElement} aria-selected={selected.has(job.id)}>
                {can.write && (
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select job ${job.id}`}
                      checked={selected.has(job.id)}
                      onChange={() => toggle(job.id)}
                    />
                  </td>
                )}
                <td>
                  <Link to="/jobs/$jobId" params={{ jobId: job.id }} className="mono">
                    {job.id}
                  </Link>
                </td>
                <td>{job.type}</td>
                <td>{job.queue}</td>
                <td>
                  <StatusBadge status={job.status} />
                </td>
                <td>
                  {job.attempts}/{job.max_attempts}
                </td>
                <td>
                  <Time value={job.created_at} />
                </td>
                <td>{job.tags.join(", ")}</td>
              </tr>
            );
          })}
          {spaceBelow > 0 && <Spacer height={spaceBelow} columns={columns} />}
        </tbody>
      </table>
      {list.isSuccess && jobs.length === 0 && <p className="muted">No jobs match.</p>}
      <nav aria-label="Pages of jobs" className="pager">
        <label>
          Rows per page
          <select
            value={search.limit ?? PAGE_SIZES[0]}
            onChange={(e) => {
              const limit = PAGE_SIZES.find((size) => String(size) === e.target.value);
              void navigate({ search: { ...search, limit: limit === PAGE_SIZES[0] ? undefined : limit, cursor: undefined } });
            }}
          >
            {PAGE_SIZES.map((size) => (
              <option key={size} value={size}>
                {size}
              </option>
            ))}
          </select>
        </label>
        {search.cursor && (
          <Link to="/jobs" search={{ ...search, cursor: undefined }}>
            Newest
          </Link>
        )}
        {list.data?.next_cursor && (
          <Link to="/jobs" search={{ ...search, cursor: list.data.next_cursor }}>
            Older
          </Link>
        )}
      </nav>
    </section>
  );
}
