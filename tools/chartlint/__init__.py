"""The Helm chart's linters: kube-score, checkov and pint on renders of charts/jobq (`make lint`)."""
