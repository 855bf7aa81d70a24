import { describe, expect, it } from "vitest";

import type { Job } from "../api/client";
import { applyToPage, countMayChange, GROWTH, matches, type JobChange, type JobPage } from "./liveList";

/** A list row created at second `s` of a minute (ids increase with it). */
function job(s: number, fields: Partial<Job> = {}): Job {
  return {
    id: `00000000-0000-0000-0000-${String(s).padStart(12, "0")}`,
    type: "email.send",
    queue: "default",
    status: "queued",
    tags: ["vip"],
    attempts: 0,
    max_attempts: 3,
    created_at: `2026-12-03T10:00:${String(s).padStart(2, "0")}.250000Z`,
    ...fields,
  } as Job;
}

const page = (jobs: Job[], next_cursor: string | null = null): JobPage => ({ jobs, next_cursor });
const ids = (p: JobPage) => p.jobs.map((j) => Number(j.id.slice(-12)));

describe("which jobs a filter selects", () => {
  it("compares what an event carries", () => {
    expect(matches({}, job(1))).toBe(true);
    expect(matches({ status: "queued", queue: "default", type: "email.send", tag: "vip" }, job(1))).toBe(true);
    expect(matches({ status: ["dead"] }, job(1))).toBe(false);
    expect(matches({ queue: "mail" }, job(1))).toBe(false);
    expect(matches({ type: "report" }, job(1))).toBe(false);
    expect(matches({ tag: "tenant-1" }, job(1))).toBe(false);
  });

  it("cannot tell error text or payload values, which an event lacks", () => {
    expect(matches({ error: "timed out" }, job(1))).toBeNull();
    expect(matches({ payload: ["user.id=1"] }, job(1))).toBeNull();
    expect(matches({ error: "timed out", queue: "mail" }, job(1))).toBe(false);
  });
});

describe("a change on a page of the list", () => {
  const head = page([job(30), job(20), job(10)], "cursor");

  it("patches a row that is there", () => {
    const { page: after, refetch } = applyToPage(head, {}, false, 3, { id: job(20).id, status: "running", attempts: 1 });
    expect(after.jobs[1]).toMatchObject({ status: "running", attempts: 1, type: "email.send" });
    expect(refetch).toBe(false);
  });

  it("puts a new job at the top without fetching, and keeps the rows the next page starts after", () => {
    const { page: after, refetch } = applyToPage(head, {}, false, 3, job(40));
    expect(ids(after)).toEqual([40, 30, 20, 10]);
    expect(after.next_cursor).toBe("cursor");
    expect(refetch).toBe(false);
  });

  it("orders by microseconds, then by id, as the API does", () => {
    const same = job(25, { created_at: "2026-12-03T10:00:20.250001Z" });
    expect(ids(applyToPage(head, {}, false, 3, same).page)).toEqual([30, 25, 20, 10]);
    const whole = job(21, { created_at: "2026-12-03T10:00:20Z" }); // no fraction: .000000
    expect(ids(applyToPage(page([job(20), job(10)]), {}, false, 3, whole).page)).toEqual([20, 21, 10]);
    const tie = job(21, { created_at: job(20).created_at });
    expect(ids(applyToPage(head, {}, false, 3, tie).page)).toEqual([30, 21, 20, 10]);
  });

  it("leaves alone a job that sorts on another page or does not match", () => {
    expect(applyToPage(head, {}, false, 3, job(5))).toEqual({ page: head, refetch: false });
    const deep = page([job(30), job(20)], "next");
    expect(applyToPage(deep, {}, true, 2, job(40))).toEqual({ page: deep, refetch: false });
    expect(applyToPage(head, { queue: "mail" }, false, 3, job(40))).toEqual({ page: head, refetch: false });
  });

  it("takes an older job into the last page, which has no rows after it", () => {
    expect(ids(applyToPage(page([job(30), job(20)]), {}, true, 3, job(5)).page)).toEqual([30, 20, 5]);
  });

  it("removes a row that left the filter", () => {
    const running = page([job(30, { status: "running" }), job(20, { status: "running" })]);
    const { page: after, refetch } = applyToPage(running, { status: "running" }, false, 3, { id: job(30).id, status: "succeeded" });
    expect(ids(after)).toEqual([20]);
    expect(refetch).toBe(false);
  });

  it("fetches a page emptied while later pages have rows", () => {
    const only = page([job(30, { status: "running" })], "next");
    const { page: after, refetch } = applyToPage(only, { status: "running" }, false, 1, { id: job(30).id, status: "succeeded" });
    expect(after.jobs).toEqual([]);
    expect(refetch).toBe(true);
  });

  it("fetches when the filter is on what the event lacks", () => {
    expect(applyToPage(head, { error: "timed out" }, false, 3, job(40)).refetch).toBe(true);
    const moved = { id: job(20).id, status: "dead" as const };
    expect(applyToPage(head, { error: "timed out" }, false, 3, moved).refetch).toBe(true);
    const progress = { id: job(20).id, progress: 0.5 };
    expect(applyToPage(head, { error: "timed out" }, false, 3, progress).refetch).toBe(false);
  });

  it("fetches a page grown to twice its size instead of growing it more", () => {
    const full = page(Array.from({ length: GROWTH * 3 }, (_, i) => job(20 - i)), "cursor");
    expect(applyToPage(full, {}, false, 3, job(40))).toEqual({ page: full, refetch: true });
  });
});

describe("whether a count may have moved", () => {
  it("moves with a job new to a filter without a status", () => {
    expect(countMayChange({}, job(40), undefined)).toBe(true);
    expect(countMayChange({ queue: "mail" }, job(40), undefined)).toBe(false);
  });

  it("does not move when a job runs or finishes with no status filtered on", () => {
    expect(countMayChange({}, { ...job(40), status: "running", attempts: 1 }, undefined)).toBe(false);
    expect(countMayChange({}, { ...job(40), status: "succeeded", attempts: 1 }, job(40))).toBe(false);
  });

  it("moves when a job enters or leaves the state filtered on", () => {
    const dead = { id: job(40).id, status: "dead" as const };
    expect(countMayChange({ status: ["dead"] }, dead, job(40))).toBe(true);
    expect(countMayChange({ status: ["queued"] }, dead, job(40))).toBe(true);
    expect(countMayChange({ status: ["running"] }, dead, job(40))).toBe(false);
    expect(countMayChange({ status: ["dead"] }, dead, undefined)).toBe(true);
  });
});
