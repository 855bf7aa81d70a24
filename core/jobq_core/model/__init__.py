"""The pure model: job states, back-off, priority, cron, payload schemas, the autoscaling
policy. Plain functions over plain data; nothing here talks to a server."""
