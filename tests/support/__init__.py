"""Helpers shared by the test suites: real servers, worker processes, waiting on signals."""
