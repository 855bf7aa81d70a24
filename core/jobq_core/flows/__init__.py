"""Where the two edges join: submitting jobs (insert in PostgreSQL, then dispatch
through Redis) and firing schedules."""
