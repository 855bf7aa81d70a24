"""A local Kubernetes control plane built from Go modules, for the k8s tests and `make cluster`."""
