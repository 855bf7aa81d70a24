"""jobq's worker autoscaling operator. Not built yet: see the operator issue."""
