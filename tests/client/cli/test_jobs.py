"""`jobq submit`, `get`, `ls`, `wait`, `cancel`, `retry` and `delete`: tables for people, the API's
JSON with --json, and exit statuses that say how the job ended."""

from __future__ import annotations

import re
import time

import asyncpg

from jobq_client import AsyncClient
from tests.client.cli.conftest import Cli
from tests.integration.conftest import StartWorker

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


async def test_submit_wait_prints_the_job_then_its_end_and_exits_0_when_it_succeeded(
    cli: Cli, start_worker: StartWorker, tmp_path
) -> None:
    await start_worker()
    ran = await cli("submit", "jobq.sleep", "--payload", '{"seconds": 0.2}', "--wait")

    assert ran.code == 0, ran
    submitted, ended = ran.lines
    job_id = submitted.split()[0]
    assert re.fullmatch(UUID, job_id) and submitted.split()[1:] == ["queued", "jobq.sleep", "on", "default"]
    assert ended.startswith(f"{job_id}  succeeded  jobq.sleep on default  attempt 1 of 3  ran 0.")
    assert ended.endswith('result {"slept_s": 0.2}')

    (tmp_path / "payload.json").write_text('{"seconds": 0.1}')
    from_file = await cli("submit", "jobq.sleep", "--payload", f"@{tmp_path / 'payload.json'}", "--wait", "--json")
    from_stdin = await cli("submit", "jobq.sleep", "--payload", "-", "--wait", "--json", input='{"seconds": 0}')

    assert from_file.code == from_stdin.code == 0, (from_file, from_stdin)
    done = from_file.json()  # one document: the job as it ended
    assert (done["status"], done["payload"], done["result"]) == ("succeeded", {"seconds": 0.1}, {"slept_s": 0.1})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", done["finished_at"]), "times in ISO, UTC"
    assert from_stdin.json()["payload"] == {"seconds": 0}


async def test_submit_sends_every_option_and_a_repeated_key_gives_the_first_job(cli: Cli) -> None:
    ran = await cli(
        "submit",
        "jobq.noop",
        "--queue",
        "reports",
        "--priority",
        "7",
        "--delay",
        "600",
        "--tag",
        "a",
        "--tag",
        "b",
        "--idempotency-key",
        "nightly-1",
        "--json",
    )
    assert ran.code == 0, ran
    job = ran.json()
    assert (job["queue"], job["priority"], job["tags"], job["idempotency_key"]) == (
        "reports",
        7,
        ["a", "b"],
        "nightly-1",
    )
    assert job["status"] == "scheduled"

    again = await cli("submit", "jobq.noop", "--idempotency-key", "nightly-1")
    assert again.code == 0 and again.out.split()[0] == job["id"], again
    assert again.out.split()[1:6] == ["scheduled", "jobq.noop", "on", "reports", "due"] and "in 10 min" in again.out

    at = await cli("submit", "jobq.noop", "--run-at", "2100-01-02T03:04:05Z", "--json")
    assert at.json()["run_at"].startswith("2100-01-02T03:04:05"), at


async def test_get_shows_a_dead_jobs_fields_attempts_and_traceback(
    cli: Cli, api: AsyncClient, start_worker: StartWorker
) -> None:
    await start_worker()
    job = await api.submit("jobq.fail", {"message": "card declined", "permanent": True}, tags=["billing"])
    await api.wait(job.id, timeout=20)

    ran = await cli("get", job.id)

    assert ran.code == 0, ran
    fields = {line[:12].strip(): line[13:].strip() for line in ran.lines if not line.startswith((" ", "traceback"))}
    assert fields["id"] == job.id and fields["status"] == "dead" and fields["attempts"] == "1 of 3"
    assert fields["tags"] == "billing" and fields["payload"] == '{"message": "card declined", "permanent": true}'
    assert fields["error"].endswith("PermanentFailure: card declined")
    assert re.match(r"#1 failed in \d+\.\d s on \S+  \S*PermanentFailure: card declined", fields["attempt"])
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ s ago\)", fields["finished"])
    assert "traceback:" in ran.lines and any("raise PermanentFailure" in line for line in ran.lines)

    as_json = (await cli("get", job.id, "--json")).json()
    assert as_json["status"] == "dead" and as_json["history"][0]["outcome"] == "failed"
    assert as_json["error"]["message"] == "card declined"


async def test_ls_lists_newest_first_with_the_apis_filters(
    cli: Cli, api: AsyncClient, db: asyncpg.Pool, start_worker: StartWorker
) -> None:
    worker = await start_worker()
    failed = await api.submit("jobq.fail", {"message": "smtp timed out", "permanent": True})
    await api.wait(failed.id, timeout=20)
    assert worker.stop() == 0  # what follows stays queued
    mine = [await api.submit("jobq.noop", {"n": n}, tags=["mine"]) for n in range(4)]
    later = await api.submit("jobq.noop", {"n": 9}, queue="reports", delay_s=600, tags=["mine"])

    table = await cli("ls", "--tag", "mine")
    assert table.code == 0, table
    header, *rows = table.lines
    assert header.split() == ["ID", "TYPE", "QUEUE", "STATUS", "ATTEMPTS", "CREATED", "AGE"]
    assert [row.split()[0] for row in rows] == [later.id] + [j.id for j in reversed(mine)]
    assert re.fullmatch(rf"{later.id}  jobq.noop  reports  scheduled  +0/3  +\d+ s ago  in 10 min", rows[0]), rows[0]
    assert re.fullmatch(rf"{mine[3].id}  jobq.noop  default  queued  +0/3  +\d+ s ago  +\d+ s", rows[1]), rows[1]
    assert len({row.index("/3") for row in rows}) == 1, "columns are aligned"

    async def ids(*args: str) -> list[str]:
        ran = await cli("ls", *args, "--json")
        assert ran.code == 0, ran
        return [job["id"] for job in ran.json()]

    assert await ids("--tag", "mine", "--status", "scheduled") == [later.id]
    assert await ids("--status", "queued", "--status", "scheduled", "--queue", "reports") == [later.id]
    assert await ids("--payload", "n=2") == [mine[2].id]
    assert await ids("--type", "jobq.fail", "--error", "SMTP TIMED") == [failed.id]
    after = await ids("--created-after", mine[2].created_at.isoformat(), "--tag", "mine")  # from that time on
    assert after == [later.id, mine[3].id, mine[2].id]
    assert await ids("--created-before", mine[1].created_at.isoformat()) == [mine[0].id, failed.id]

    limited = await cli("ls", "--tag", "mine", "--limit", "2")
    assert [row.split()[0] for row in limited.lines[1:]] == [later.id, mine[3].id]
    assert limited.errors == ["jobq: more jobs match than these 2: raise --limit, or pass --all"]
    assert len(await ids("--all", "--tag", "mine")) == 5
    assert (await cli("ls", "--tag", "mine", "--limit", "5")).err == ""

    none = await cli("ls", "--tag", "nobody")
    assert none.code == 0 and none.out == "" and none.errors == ["jobq: no job matches"]
    assert (await cli("ls", "--tag", "nobody", "--json")).json() == []


async def test_on_a_terminal_a_table_is_cut_to_its_width_and_keeps_the_ids(cli: Cli, api: AsyncClient) -> None:
    job = await api.submit("jobq.noop", queue="a-queue-with-a-rather-long-name-" + "x" * 40)

    wide = await cli.on_terminal("ls", stream="stdout", columns=200)
    narrow = await cli.on_terminal("ls", stream="stdout", columns=80)

    assert wide.code == narrow.code == 0, narrow
    assert max(len(line) for line in wide.lines) > 80, "the content is wider than the narrow terminal"
    assert all(len(line) <= 80 for line in narrow.lines), narrow.out
    assert narrow.lines[1].startswith(job.id + "  jobq.noop  a-queue-wit…  queued") and narrow.lines[1].endswith("…")
    assert narrow.lines[0].startswith("ID" + " " * 36 + "TYPE       QUEUE         STATUS  ATTEMPTS")
    piped = await cli("ls")
    assert piped.lines[1].split()[2] == job.queue, "a pipe gets whole lines"


async def test_wait_exits_1_for_a_dead_job_and_7_past_its_timeout(
    cli: Cli, api: AsyncClient, start_worker: StartWorker
) -> None:
    await start_worker()
    dead = await api.submit("jobq.fail", {"permanent": True})
    ran = await cli("wait", dead.id)
    assert ran.code == 1, ran
    assert ran.out.startswith(f"{dead.id}  dead  jobq.fail on default  attempt 1 of 3")
    assert ran.out.rstrip().endswith("PermanentFailure: failed on purpose") and ran.err == ""

    submitted = await cli("submit", "jobq.fail", "--payload", '{"permanent": true}', "--wait", "--json")
    assert submitted.code == 1 and submitted.json()["status"] == "dead", submitted

    later = await api.submit("jobq.noop", delay_s=600)
    started = time.monotonic()
    timed_out = await cli("wait", later.id, "--timeout", "1")
    assert timed_out.code == 7, timed_out
    assert time.monotonic() - started < 6
    assert timed_out.errors == [f"jobq: The job did not finish in time: job {later.id} is still scheduled after 1 s"]
    as_json = await cli("wait", later.id, "--timeout", "0.5", "--json")
    assert as_json.code == 7 and as_json.json()["status"] == "scheduled", "the job as last read"

    cancelled = await api.submit("jobq.noop", delay_s=600)
    await api.cancel_job(cancelled.id)
    assert (await cli("wait", cancelled.id)).code == 1


async def test_cancel_retry_and_delete_act_on_each_id_and_go_on_past_one_that_fails(cli: Cli, api: AsyncClient) -> None:
    first, second = [await api.submit("jobq.noop", delay_s=600) for _ in range(2)]
    unknown = "01a232cb-0000-7000-8000-000000000000"

    cancelled = await cli("cancel", first.id, unknown, second.id)
    assert cancelled.code == 3, cancelled  # the unknown one: not found; the others were cancelled
    assert [line.split()[:2] for line in cancelled.lines] == [[first.id, "cancelled"], [second.id, "cancelled"]]
    assert cancelled.errors == [
        f"jobq: No such object: POST /v1/jobs/{unknown}/cancel answered 404: no job with this id"
    ]
    again = await cli("cancel", first.id)
    assert again.code == 6 and "a cancelled job cannot be cancelled" in again.err, again

    retried = await cli("retry", first.id, second.id, "--json")
    assert retried.code == 0, retried
    assert [(j["id"], j["status"]) for j in retried.json()] == [(first.id, "queued"), (second.id, "queued")]
    conflict = await cli("retry", first.id)
    assert conflict.code == 6 and "409" in conflict.err

    deleted = await cli("delete", first.id, second.id)
    assert deleted.code == 0 and deleted.lines == [f"{first.id} deleted", f"{second.id} deleted"], deleted
    assert (await cli("get", first.id)).code == 3
    assert (await cli("delete", second.id, "--json")).code == 3
    third = await api.submit("jobq.noop", delay_s=600)
    assert (await cli("delete", third.id, "--json")).json() == [third.id]
