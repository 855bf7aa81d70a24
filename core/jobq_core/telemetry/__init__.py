"""Telemetry: structured logs, OpenTelemetry traces, Prometheus metrics and the small
`/metrics` + `/healthz` endpoint of processes without a web server."""
