// The event stream (GET /v1/events) kept open while the dashboard is Live, patching the
// query cache with what changed: job rows and pages, queue counts, workers.
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useEffect } from "react";

import { authHeaders, type Job } from "../api/client";
import { config } from "../config";
import { subscribe, type StreamEvent } from "../lib/events";
import { usePreferences } from "./preferences";

type JobChange = Partial<Job> & { id: string };

interface JobPage {
  jobs: Job[];
  next_cursor: string | null;
}

interface JobDocument {
  job: Job;
}

// Which lists may gain or lose rows is for the server to say: they are refetched, but
// at most this often however many jobs change.
const LIST_REFRESH_MS = 2000;

function applyJob(client: QueryClient, change: JobChange, refreshLists: () => void): void {
  client.setQueryData<JobDocument>(["job", change.id], (doc) => {
    if (!doc) return doc;
    const finished = doc.job.status !== change.status && change.status !== undefined;
    if (finished) void client.invalidateQueries({ queryKey: ["job", change.id], exact: true });
    return { ...doc, job: { ...doc.job, ...change } };
  });
  let shown = false;
  client.setQueriesData<JobPage>({ queryKey: ["jobs"] }, (page) => {
    if (!page?.jobs.some((j) => j.id === change.id)) return page;
    shown = true;
    return { ...page, jobs: page.jobs.map((j) => (j.id === change.id ? { ...j, ...change } : j)) };
  });
  // A new job, or one whose state moved it into or out of a filtered list.
  if (!shown || change.status !== undefined) refreshLists();
}

function throttle(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  return () => {
    if (timer === null) timer = setTimeout(() => ((timer = null), fn()), ms);
  };
}

export function LiveUpdates() {
  const client = useQueryClient();
  const { live, setStream } = usePreferences();

  useEffect(() => {
    if (live !== "live") {
      setStream("off");
      return;
    }
    const refreshLists = throttle(() => {
      void client.invalidateQueries({ queryKey: ["jobs"] });
      void client.invalidateQueries({ queryKey: ["job-count"] });
    }, LIST_REFRESH_MS);
    const onEvent = ({ event, data }: StreamEvent) => {
      if (event === "job") applyJob(client, data as JobChange, refreshLists);
      else if (event === "queues") client.setQueryData(["queues"], data);
      else if (event === "workers") client.setQueryData(["workers"], data);
      else if (event === "unavailable") setStream("unavailable");
      else if (event === "reset") {
        setStream("live"); // also the end of an outage
        void client.invalidateQueries();
      }
    };
    return subscribe(`${window.location.origin}${config.apiBase}/v1/events`, authHeaders, onEvent, setStream);
  }, [live, client, setStream]);

  return null;
}
