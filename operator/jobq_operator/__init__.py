"""jobq's worker autoscaling operator: WorkerScaler objects scale worker Deployments.

The policy is :mod:`jobq_core.model.autoscale` (shared with ``jobq run``'s local mode); this
package is its Kubernetes edge: kopf handlers, the API calls, metrics.
"""
