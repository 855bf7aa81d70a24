"""The PostgreSQL edge: the pool and named queries, the job store, job types, API keys,
schedules, migrations, and the queues' state as the autoscaler reads it."""
