# pint's settings for jobq's alert rules: `python -m tools.chartlint` runs
# `pint --offline lint` (no Prometheus to ask) on charts/jobq/alerts/*.yaml and on the
# PrometheusRule each monitoring render of the chart holds. Nothing is disabled.

parser {
  # A rendered PrometheusRule is a Kubernetes object, its groups under `spec`: relaxed
  # parsing finds the rules anywhere in the file.
  relaxed = [".*prometheusrule-[^/]*[.]yaml"]
}

rule {
  match {
    kind = "alerting"
  }

  # In a Prometheus that scrapes several releases, one release's health must not hide
  # another's trouble: every aggregation keeps `namespace` (charts/jobq/alerts/jobq.rules.yaml).
  aggregate ".+" {
    keep     = ["namespace"]
    severity = "bug"
  }

  # What Alertmanager's templates and Grafana show of an alert.
  annotation "summary" {
    required = true
    severity = "bug"
  }
  annotation "description" {
    required = true
    severity = "bug"
  }
  annotation "runbook_url" {
    required = true
    severity = "bug"
  }

  # What the routes of an Alertmanager tell pages from tickets by.
  label "severity" {
    required = true
    values   = ["warning", "critical"]
    severity = "bug"
  }
}
