"""Jobs, queues, workers and schedules as people read them: one-line summaries, table rows, a job's page."""

from __future__ import annotations

from datetime import UTC, datetime

from ..events import FINAL_STATUSES
from ..models import JobEventData, JobOut, QueueOut, ScheduleOut, WorkerOut
from .output import ago, compact, iso, span

JOB_COLUMNS = ["ID", "TYPE", "QUEUE", "STATUS", "ATTEMPTS", "CREATED", "AGE"]
QUEUE_COLUMNS = ["QUEUE", "READY", "SCHEDULED", "RUNNING", "DEAD", "OLDEST READY", "PAUSED"]
WORKER_COLUMNS = ["ID", "HOST", "PID", "QUEUES", "RUNNING", "CONCURRENCY", "ALIVE", "HEARTBEAT", "STARTED"]
SCHEDULE_COLUMNS = ["NAME", "CRON", "TIMEZONE", "TYPE", "STATE", "NEXT RUN", "LAST RUN", "LAST JOB"]


def in_status(job: JobOut | JobEventData, now: datetime) -> str:
    """How long the job has been in its status; for a scheduled job, when it is due (`in 5 min`)."""
    if job.status == "scheduled":
        return ago(job.run_at, now)
    since = {"queued": max(job.created_at, job.run_at), "running": job.started_at}.get(job.status, job.finished_at)
    return "-" if since is None else span((now - since).total_seconds())


def ran(started: datetime, finished: datetime) -> str:
    """How long a run took: to a tenth of a second under a minute (`0.3 s`), else as `span` says."""
    seconds = (finished - started).total_seconds()
    return f"{seconds:.1f} s" if seconds < 60 else span(seconds)


def job_row(job: JobOut, now: datetime) -> list[str]:
    """A job as a row of `jobq ls`."""
    attempts = f"{job.attempts}/{job.max_attempts}"
    return [job.id, job.type, job.queue, job.status, attempts, ago(job.created_at, now), in_status(job, now)]


def summary(job: JobOut) -> str:
    """A job on one line: id, status, type and queue, and what its status calls for (due, result, error)."""
    now = datetime.now(UTC)
    parts = [job.id, job.status, f"{job.type} on {job.queue}"]
    if job.status == "scheduled":
        parts.append(f"due {ago(job.run_at, now)}")
    if job.attempts:
        parts.append(f"attempt {job.attempts} of {job.max_attempts}")
    if job.status == "running" and job.cancel_requested_at is not None:
        parts.append("cancel requested")
    if job.status in FINAL_STATUSES and job.started_at and job.finished_at:
        parts.append(f"ran {ran(job.started_at, job.finished_at)}")
    if job.status == "succeeded" and job.result is not None:
        parts.append(f"result {compact(job.result)}")
    if job.status in FINAL_STATUSES - {"succeeded"} and job.error is not None:
        parts.append(f"{job.error.type}: {job.error.message}")
    return "  ".join(" ".join(part.split()) for part in parts)


def page(job: JobOut) -> list[str]:
    """A job's page (`jobq get`): every field by name, its attempts, and the last error's traceback."""
    now = datetime.now(UTC)

    def moment(when: datetime | None) -> str:
        return "-" if when is None else f"{iso(when)}  ({ago(when, now)})"

    progress = "-"
    if job.progress is not None:
        progress = f"{job.progress:.0%} {job.progress_message or ''}".rstrip()
    fields = [
        ("id", job.id),
        ("type", job.type),
        ("queue", job.queue),
        ("status", job.status + ("  (cancel requested)" if job.cancel_requested_at else "")),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("priority", str(job.priority)),
        ("tags", ", ".join(job.tags) or "-"),
        ("created", moment(job.created_at)),
        ("run at", moment(job.run_at)),
        ("started", moment(job.started_at)),
        ("finished", moment(job.finished_at)),
        ("timeout", span(job.timeout_s)),
        ("worker", job.worker_id or "-"),
        ("progress", progress),
        ("idempotency", job.idempotency_key or "-"),
        ("payload", compact(job.payload)),
        ("result", "-" if job.result is None else compact(job.result)),
        ("error", "-" if job.error is None else f"{job.error.type}: {job.error.message}"),
    ]
    if job.cloned_from:
        fields.append(("cloned from", job.cloned_from))
    if job.schedule_id:
        fields.append(("schedule", job.schedule_id))
    width = max(len(name) for name, _ in fields)
    lines = [f"{name.ljust(width)}  {' '.join(value.split())}" for name, value in fields]
    for attempt in job.history or []:
        error = "" if attempt.error is None else f"  {attempt.error.type}: {' '.join(attempt.error.message.split())}"
        took = ran(attempt.started_at, attempt.finished_at) if attempt.started_at else "-"
        worker = attempt.worker_id or "-"
        lines.append(f"{'attempt'.ljust(width)}  #{attempt.attempt} {attempt.outcome} in {took} on {worker}{error}")
    if job.error is not None and job.error.traceback:
        lines.append("traceback:")
        lines += ["  " + text for text in job.error.traceback.rstrip().splitlines()]
    return lines


def event_line(job: JobEventData, at: datetime) -> str:
    """A job event on one line (`jobq tail`): the local time it came, the job, its status and attempt."""
    parts = [at.astimezone().strftime("%H:%M:%S"), job.id, job.type, job.queue, job.status.ljust(9)]
    parts.append(f"attempt {job.attempts}/{job.max_attempts}")
    if job.progress is not None and job.status == "running":
        parts.append(f"{job.progress:.0%} {job.progress_message or ''}".rstrip())
    return "  ".join(" ".join(part.split()) for part in parts)


def queue_row(queue: QueueOut) -> list[str]:
    """A queue as a row of `jobq queues`."""
    oldest = "-" if queue.oldest_ready_age_s is None else span(queue.oldest_ready_age_s)
    counts = [str(n) for n in (queue.ready, queue.scheduled, queue.running, queue.dead)]
    return [queue.name, *counts, oldest, "paused" if queue.paused else "-"]


def queue_summary(queue: QueueOut) -> str:
    """A queue on one line (`jobq pause`, `jobq resume`)."""
    state = "paused" if queue.paused else "running"
    return f"queue {queue.name} {state}: {queue.ready} ready, {queue.scheduled} scheduled, {queue.running} running"


def worker_row(worker: WorkerOut, now: datetime) -> list[str]:
    """A worker as a row of `jobq workers`."""
    alive = "yes" if worker.alive else f"no, stopped {ago(worker.stopped_at, now)}" if worker.stopped_at else "no"
    return [
        worker.id,
        worker.hostname,
        str(worker.pid),
        ",".join(worker.queues),
        str(worker.running),
        str(worker.concurrency),
        alive,
        ago(worker.heartbeat_at, now),
        ago(worker.started_at, now),
    ]


def schedule_row(schedule: ScheduleOut, now: datetime) -> list[str]:
    """A schedule as a row of `jobq schedules`."""
    return [
        schedule.name,
        schedule.cron,
        schedule.timezone,
        str(schedule.job.get("type", "-")),
        "paused" if schedule.paused else "active",
        "-" if schedule.paused else ago(schedule.next_run_at, now),
        ago(schedule.last_run_at, now),
        schedule.last_job_id or "-",
    ]
