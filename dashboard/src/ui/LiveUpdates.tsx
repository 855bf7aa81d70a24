// The event stream (GET /v1/events) kept open while the dashboard is Live, patching the
// query cache with what changed: job rows and pages, queue counts, workers. A jobs list
// or count is fetched again only when the event cannot settle it (lib/liveList).
import { useQueryClient, type QueryClient, type QueryKey } from "@tanstack/react-query";
import { useEffect } from "react";

import { authHeaders, type Job } from "../api/client";
import { config } from "../config";
import type { JobCount } from "../lib/count";
import { subscribe, type StreamEvent } from "../lib/events";
import { applyToPage, countMayChange, type JobChange, type JobPage, type ListFilters } from "../lib/liveList";
import { PAGE_SIZES, type JobsSearch } from "../pages/Jobs";
import { usePreferences } from "./preferences";

interface JobDocument {
  job: Job;
}

// A list or count the event cannot settle is fetched again after this long, so a burst
// of changes costs one fetch; an estimated count (it shows "~1.2M") at most this often.
const LIST_REFRESH_MS = 2000;
const ESTIMATE_REFRESH_MS = 60_000;
// Jobs whose last known state is kept, to tell whether a change moved a count.
const REMEMBERED_JOBS = 20_000;

/** Fetches again, at most once per wait, the queries an event could not settle. */
class Refetches {
  private timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private client: QueryClient) {}

  request(queryKey: QueryKey, everyMs: number): void {
    const hash = JSON.stringify(queryKey);
    if (this.timers.has(hash)) return;
    const fetchedAt = this.client.getQueryState(queryKey)?.dataUpdatedAt ?? 0;
    const wait = Math.max(LIST_REFRESH_MS, fetchedAt + everyMs - Date.now());
    const timer = setTimeout(() => {
      this.timers.delete(hash);
      void this.client.invalidateQueries({ queryKey, exact: true });
    }, wait);
    this.timers.set(hash, timer);
  }

  stop(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

function listFilters(search: JobsSearch): ListFilters {
  const { status, type, queue, tag, error, payload } = search;
  return { status, type, queue, tag, error, payload };
}

function applyJob(client: QueryClient, change: JobChange, seen: Map<string, JobChange>, refetches: Refetches): void {
  client.setQueryData<JobDocument>(["job", change.id], (doc) => {
    if (!doc) return doc;
    const finished = doc.job.status !== change.status && change.status !== undefined;
    if (finished) void client.invalidateQueries({ queryKey: ["job", change.id], exact: true });
    return { ...doc, job: { ...doc.job, ...change } };
  });
  const pages = client.getQueriesData<JobPage>({ queryKey: ["jobs"] });
  // A row fetched is fresher than what an earlier event said.
  const before = pages.map(([, page]) => page?.jobs.find((j) => j.id === change.id)).find(Boolean) ?? seen.get(change.id);
  for (const [queryKey, page] of pages) {
    if (!page) continue;
    const search = (queryKey[1] ?? {}) as JobsSearch;
    const limit = search.limit ?? PAGE_SIZES[0];
    const result = applyToPage(page, listFilters(search), search.cursor !== undefined, limit, change);
    if (result.page !== page) client.setQueryData(queryKey, result.page);
    if (result.refetch) refetches.request(queryKey, LIST_REFRESH_MS);
  }
  for (const [queryKey, counted] of client.getQueriesData<{ count: JobCount }>({ queryKey: ["job-count"] })) {
    if (!countMayChange((queryKey[1] ?? {}) as ListFilters, change, before)) continue;
    refetches.request(queryKey, counted?.count.exact === false ? ESTIMATE_REFRESH_MS : LIST_REFRESH_MS);
  }
  seen.delete(change.id); // kept in arrival order, the oldest forgotten first
  seen.set(change.id, { ...before, ...change });
  if (seen.size > REMEMBERED_JOBS) seen.delete(seen.keys().next().value as string);
}

export function LiveUpdates() {
  const client = useQueryClient();
  const { live, setStream } = usePreferences();

  useEffect(() => {
    if (live !== "live") {
      setStream("off");
      return;
    }
    const refetches = new Refetches(client);
    const seen = new Map<string, JobChange>();
    const onEvent = ({ event, data }: StreamEvent) => {
      if (event === "job") applyJob(client, data as JobChange, seen, refetches);
      else if (event === "queues") client.setQueryData(["queues"], data);
      else if (event === "workers") client.setQueryData(["workers"], data);
      else if (event === "unavailable") setStream("unavailable");
      else if (event === "reset") {
        setStream("live"); // also the end of an outage
        seen.clear(); // events were missed: what it says may be out of date
        void client.invalidateQueries();
      }
    };
    const unsubscribe = subscribe(`${window.location.origin}${config.apiBase}/v1/events`, authHeaders, onEvent, setStream);
    return () => {
      unsubscribe();
      refetches.stop();
    };
  }, [live, client, setStream]);

  return null;
}
