// What one `job` event does to a jobs list or count the dashboard holds, decided here
// from the event's fields so an open page fetches again only when it cannot tell: twenty
// idle tabs on a busy system then cost PostgreSQL next to nothing (the scale issue's budget).
//
// A list is newest first (created_at, then id, both descending) and paged by keyset, so a
// job belongs on a page when it matches the filters and sorts between the page's first and
// last rows. Type, queue and tags never change after a submit; status does. Error text and
// payload values are not in an event: a list filtered on them is fetched again instead.
import type { Job } from "../api/client";

/** A `job` event's data: the fields a list row shows. */
export type JobChange = Partial<Job> & { id: string };

/** The filters of a jobs list or count, as their query keys hold them. */
export interface ListFilters {
  status?: string | string[];
  type?: string;
  queue?: string;
  tag?: string;
  error?: string;
  payload?: string[];
}

export interface JobPage {
  jobs: Job[];
  next_cursor: string | null;
}

/** A page grows by jobs arriving at its top to this many times its size, then is fetched again. */
export const GROWTH = 2;

/** Whether `job` is one the filters select; null when they filter on what an event lacks. */
export function matches(filters: ListFilters, job: JobChange): boolean | null {
  const statuses = [filters.status ?? []].flat();
  if (statuses.length && (job.status === undefined || !statuses.includes(job.status))) return false;
  if (filters.type && job.type !== filters.type) return false;
  if (filters.queue && job.queue !== filters.queue) return false;
  if (filters.tag && !(job.tags ?? []).includes(filters.tag)) return false;
  if (filters.error || filters.payload?.length) return null;
  return true;
}

/** Microseconds since the epoch: ISO times from the API carry six digits, or none when zero. */
function micros(iso: string): number {
  const fraction = /\.(\d+)/.exec(iso)?.[1] ?? "";
  return Math.floor(Date.parse(iso) / 1000) * 1e6 + Number(fraction.padEnd(6, "0").slice(0, 6));
}

/** Whether `a` is listed before `b` (newer, or as new with a greater id). */
function listedBefore(a: JobChange, b: JobChange): boolean {
  const [ta, tb] = [micros(a.created_at ?? ""), micros(b.created_at ?? "")];
  return ta !== tb ? ta > tb : a.id > b.id;
}

/** Whether a job not on the page sorts within it: after the first row when there are pages
 * before it, before the last row when there are pages after it. */
function sortsWithin(page: JobPage, paged: boolean, job: JobChange): boolean {
  const first = page.jobs[0];
  const last = page.jobs[page.jobs.length - 1];
  if (first === undefined || last === undefined) return true;
  if (paged && !listedBefore(first, job)) return false;
  return page.next_cursor === null || listedBefore(job, last);
}

export interface PageChange {
  page: JobPage;
  /** The page cannot be told from the event: fetch it again. */
  refetch: boolean;
}

/**
 * What `change` does to one page of the list for `filters` (of `limit` rows; `paged`
 * when it is not the first page): a row patched, removed because it left the filters,
 * or a new one put in its place; a fetch when the event cannot say.
 */
export function applyToPage(page: JobPage, filters: ListFilters, paged: boolean, limit: number, change: JobChange): PageChange {
  const at = page.jobs.findIndex((j) => j.id === change.id);
  if (at >= 0) {
    const row = { ...page.jobs[at], ...change } as Job;
    const member = matches(filters, row);
    const jobs = [...page.jobs];
    if (member === false) jobs.splice(at, 1);
    else jobs[at] = row;
    const moved = change.status !== undefined && change.status !== page.jobs[at]?.status;
    // Emptied, a page would show "no jobs" where later ones still are.
    const refetch = (member === null && moved) || (jobs.length === 0 && (paged || page.next_cursor !== null));
    return { page: { ...page, jobs }, refetch };
  }
  const member = matches(filters, change);
  if (member === false || !sortsWithin(page, paged, change)) return { page, refetch: false };
  if (member === null || change.created_at === undefined || page.jobs.length >= GROWTH * limit) {
    return { page, refetch: true };
  }
  // Not trimmed to `limit`: the next page's cursor starts after the last row shown.
  const before = page.jobs.findIndex((j) => listedBefore(change, j));
  const jobs = [...page.jobs];
  jobs.splice(before < 0 ? jobs.length : before, 0, change as Job);
  return { page: { ...page, jobs }, refetch: false };
}

/**
 * Whether the number of jobs the filters select may have moved with `change`; `before`
 * is the job as this tab last knew it (a list row or an earlier event), if it did.
 */
export function countMayChange(filters: ListFilters, change: JobChange, before: JobChange | undefined): boolean {
  const now = matches(filters, change);
  if (before !== undefined) {
    const then = matches(filters, { ...before, ...change, status: before.status });
    return now === null || then === null || now !== then;
  }
  // Unseen, it may have entered or left a status filter.
  if ([filters.status ?? []].flat().length) return true;
  // Without a status filter only a new job moves the count: one not yet run, not seen before.
  return now !== false && change.attempts === 0 && (change.status === "queued" || change.status === "scheduled");
}
