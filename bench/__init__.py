"""jobq's benchmark harness. `make bench` runs it; results go to bench/results/."""
