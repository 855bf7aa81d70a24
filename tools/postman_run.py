"""What the Postman collection runs (tools/postman.py builds it): the requests in order, and what is left out.

Each :class:`Step` names an operation of the OpenAPI document and says what to send,
the status to expect, what to check beyond the response schema and which ids to keep
for later steps. The sequence runs against a fresh stack (`make run`, or the one
tests/e2e/test_postman.py starts) and again against the same one: names are made unique
with Postman's `{{$guid}}`, and what it makes is marked `postman` (a tag, a queue).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Marks a job, a schedule and an API key as the collection's own; `make run` keeps data.
MARK = "postman"
FAILURE = "jobq's Postman collection failed this job on purpose"


@dataclass(frozen=True)
class Step:
    """One request of the run: an operation of the document, what to send and what to keep.

    Values may name variables, `{{jobId}}`: the environment's, Postman's dynamic ones
    (`{{$guid}}`) or one an earlier step keeps (`save`). Expressions are JavaScript over
    `body`, the parsed answer.
    """

    name: str
    operation: str  # "METHOD /path" as the document has it
    status: int
    body: Any = None
    path: dict[str, str] = field(default_factory=dict)  # default: {{camelCase of the parameter}}
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)  # expression -> the value it must equal
    save: dict[str, str] = field(default_factory=dict)  # collection variable -> expression
    wait: tuple[str, tuple[str, ...]] | None = None  # (job variable, statuses) polled for first
    content_type: str | None = None  # for an answer that is not JSON


def _job(type_: str, payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": type_, "payload": payload, "tags": [MARK], **fields}


# The requests, in the order newman runs them; a tag's requests together (they are its folder).
RUN: list[Step] = [
    Step("Liveness", "GET /healthz", 200, expect={"body.status": "ok"}),
    Step("Readiness", "GET /readyz", 200, expect={"body.status": "ready"}),
    Step("Prometheus metrics", "GET /metrics", 200, content_type="text/plain"),
    Step("The calling API key", "GET /v1/me", 200, expect={"body.can_admin": True}),
    Step("Job types", "GET /v1/job-types", 200, expect={'body.job_types.some(t => t.name === "jobq.noop")': True}),
    Step("Workers", "GET /v1/workers", 200, expect={"body.workers.some(w => w.alive)": True}),
    Step(
        "Submit a delayed job",
        "POST /v1/jobs",
        201,
        body=_job("jobq.noop", {}, delay_s=3600),
        headers={"Idempotency-Key": "{{$guid}}"},
        expect={"body.status": "scheduled"},
        save={"jobId": "body.id"},
    ),
    Step(
        "Submit a job that fails",
        "POST /v1/jobs",
        201,
        body=_job("jobq.fail", {"message": FAILURE, "permanent": True}),
        save={"failedJobId": "body.id"},
    ),
    Step(
        "Submit an email",
        "POST /v1/jobs",
        201,
        body=_job(
            "email.send", {"to": ["postman@example.com"], "subject": "From the Postman collection", "text": "Hi."}
        ),
        save={"mailJobId": "body.id"},
    ),
    Step(
        "Submit a batch",
        "POST /v1/jobs/batch",
        201,
        body={"jobs": [_job("jobq.noop", {"n": 1}, delay_s=3600), _job("jobq.noop", {"n": 2}, delay_s=3600)]},
        expect={"body.created": 2},
        save={"batchJobId": "body.jobs[0].id", "otherBatchJobId": "body.jobs[1].id"},
    ),
    Step("Read a job", "GET /v1/jobs/{job_id}", 200, expect={"body.status": "scheduled"}),
    Step(
        "List jobs",
        "GET /v1/jobs",
        200,
        query={"tag": MARK, "status": "scheduled", "limit": "10"},
        expect={'body.jobs.some(j => j.id === pm.collectionVariables.get("jobId"))': True},
    ),
    Step(
        "Count jobs",
        "GET /v1/jobs/count",
        200,
        query={"tag": MARK, "status": "scheduled"},
        expect={"body.count.exact": True, "body.count.value >= 1": True},
    ),
    Step(
        "Export jobs",
        "GET /v1/jobs/export",
        200,
        query={"tag": MARK, "format": "csv"},
        content_type="text/csv",
    ),
    Step("Run a delayed job now", "POST /v1/jobs/{job_id}/run-now", 200, expect={"body.status": "queued"}),
    Step(
        "Cancel a job",
        "POST /v1/jobs/{job_id}/cancel",
        200,
        path={"job_id": "{{batchJobId}}"},
        expect={"body.status": "cancelled"},
    ),
    Step(
        "Retry a cancelled job",
        "POST /v1/jobs/{job_id}/retry",
        200,
        path={"job_id": "{{batchJobId}}"},
        expect={"body.status": "queued"},
    ),
    Step("Delete a job", "DELETE /v1/jobs/{job_id}", 204, path={"job_id": "{{otherBatchJobId}}"}),
    Step(
        "Preview a bulk operation",
        "POST /v1/bulk-operations",
        201,
        body={"action": "set_priority", "priority": 5, "filter": {"tag": MARK}},  # 4 jobs at least by now
        expect={"body.status": "preview", "body.matched.value >= 4": True},
        save={"operationId": "body.id"},
    ),
    Step(
        "Confirm a bulk operation",
        "POST /v1/bulk-operations/{operation_id}/confirm",
        200,
        expect={"body.status": "running"},
    ),
    Step(
        "Read a bulk operation", "GET /v1/bulk-operations/{operation_id}", 200, expect={"body.action": "set_priority"}
    ),
    Step(
        "List bulk operations",
        "GET /v1/bulk-operations",
        200,
        expect={'body.operations.some(o => o.id === pm.collectionVariables.get("operationId"))': True},
    ),
    Step(
        "Preview a bulk delete, to drop it",
        "POST /v1/bulk-operations",
        201,
        body={"action": "delete", "filter": {"tag": MARK, "status": ["cancelled"]}},
        save={"droppedOperationId": "body.id"},
    ),
    Step(
        "Cancel a bulk operation",
        "POST /v1/bulk-operations/{operation_id}/cancel",
        200,
        path={"operation_id": "{{droppedOperationId}}"},
        expect={"body.status": "cancelled", "body.processed": 0},
    ),
    Step(
        "Dead jobs grouped by error",
        "GET /v1/dead-groups",
        200,
        query={"type": "jobq.fail"},
        wait=("failedJobId", ("dead",)),
        save={
            "fingerprint": f"(body.groups.find(g => g.sample_message === {json.dumps(FAILURE)}) || {{}}).fingerprint"
        },
    ),
    Step(
        "Retry a group of dead jobs",
        "POST /v1/dead-groups/{fingerprint}/retry",
        200,
        body={"limit": 1},
        query={"type": "jobq.fail"},
        expect={"body.retried": 1},
    ),
    Step(
        "Caught mail",
        "GET /v1/local/mail",
        200,
        wait=("mailJobId", ("succeeded",)),
        save={
            "mailId": '(body.messages.find(m => m.message_id === "<" + pm.collectionVariables.get("mailJobId")'
            ' + "@jobq>") || {}).id'
        },
    ),
    Step(
        "A caught message", "GET /v1/local/mail/{mail_id}", 200, expect={"body.subject": "From the Postman collection"}
    ),
    Step("List queues", "GET /v1/queues", 200),
    Step("Pause a queue", "POST /v1/queues/{name}/pause", 200, path={"name": MARK}, expect={"body.paused": True}),
    Step("Resume a queue", "POST /v1/queues/{name}/resume", 200, path={"name": MARK}, expect={"body.paused": False}),
    Step(
        "Create a schedule",
        "POST /v1/schedules",
        201,
        body={"name": MARK + " {{$guid}}", "cron": "0 0 1 1 *", "timezone": "UTC", "job": _job("jobq.noop", {})},
        save={"scheduleId": "body.id"},
    ),
    Step(
        "List schedules",
        "GET /v1/schedules",
        200,
        expect={'body.schedules.some(s => s.id === pm.collectionVariables.get("scheduleId"))': True},
    ),
    Step("Read a schedule", "GET /v1/schedules/{schedule_id}", 200, expect={"body.cron": "0 0 1 1 *"}),
    Step(
        "Change a schedule",
        "PATCH /v1/schedules/{schedule_id}",
        200,
        body={"cron": "30 0 1 1 *"},
        expect={"body.cron": "30 0 1 1 *"},
    ),
    Step("Pause a schedule", "POST /v1/schedules/{schedule_id}/pause", 200, expect={"body.paused": True}),
    Step("Resume a schedule", "POST /v1/schedules/{schedule_id}/resume", 200, expect={"body.paused": False}),
    Step(
        "Run a schedule now",
        "POST /v1/schedules/{schedule_id}/run",
        201,
        expect={'body.schedule_id === pm.collectionVariables.get("scheduleId")': True},
        save={"scheduleJobId": "body.id"},
    ),
    Step(
        "A schedule's recent runs",
        "GET /v1/schedules/{schedule_id}/runs",
        200,
        query={"limit": "5"},
        expect={'body.jobs.some(j => j.id === pm.collectionVariables.get("scheduleJobId"))': True},
    ),
    Step("Delete a schedule", "DELETE /v1/schedules/{schedule_id}", 204),
    Step("List API keys", "GET /v1/api-keys", 200),
    Step(
        "Create an API key",
        "POST /v1/api-keys",
        201,
        body={"name": MARK + " {{$timestamp}}", "scopes": ["jobs:read"]},
        expect={"body.scopes": ["jobs:read"]},
        save={"keyId": "body.id"},
    ),
    Step("Revoke an API key", "DELETE /v1/api-keys/{key_id}", 200, expect={"body.revoked_at !== null": True}),
    Step(
        "The audit log",
        "GET /v1/audit",
        200,
        query={"action": "key.revoke", "limit": "5"},
        expect={'body.entries.some(e => e.target === pm.collectionVariables.get("keyId"))': True},
    ),
    Step("Stats", "GET /v1/stats", 200, query={"window": "1h"}, expect={"body.window": "1h"}),
    Step("What needs attention", "GET /v1/attention", 200),
    Step("Autoscaling", "GET /v1/scalers", 200, query={"window": "1h"}),
]

# Operations of the document left out of the collection, each with the reason.
EXCLUDED: dict[str, str] = {
    "GET /v1/events": "a text/event-stream held open for up to 5 minutes; newman reads an answer whole,"
    " so it could only time out (tests/integration/test_events.py reads the stream)",
}
