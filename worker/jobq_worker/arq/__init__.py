"""ARQ apps on jobq: an ARQ ``WorkerSettings`` run by a jobq worker, with ARQ's own classes.

``jobq-worker --arq myapp.worker.WorkerSettings`` (or ``JOBQ_ARQ_SETTINGS``) loads the
settings as the ``arq`` CLI does and reads them with ARQ's own :class:`arq.worker.Worker`
(never run), so ``func()``, ``cron()``, ``Retry`` and the defaults mean what they mean in
ARQ. Then jobq runs them:

- each function (and each cron job's coroutine) is a jobq job type of its name, whose
  payload is ``{"args": [...], "kwargs": {...}}`` (:mod:`.runtime`);
- messages ARQ producers enqueue with ``ArqRedis.enqueue_job`` are taken in from ARQ's
  queue and recorded as jobq jobs before anything runs (:mod:`.intake`), then run through
  jobq's own consumer like every other job;
- what ARQ's ``Job`` handle reads — the in-progress key, the result key, the queue's
  sorted set — is kept up as the jobs run (:mod:`.view`);
- cron jobs become schedules declared in code, reconciled at start-up (:mod:`.cron`).
"""
