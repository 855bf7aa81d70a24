"""One place for the client's names: environment variables, defaults, headers and paths."""

# The API's base URL and the API key, when not passed to the client.
API_URL_ENV = "JOBQ_API_URL"
API_KEY_ENV = "JOBQ_API_KEY"
# Where `jobq run` serves the API unless told otherwise.
DEFAULT_API_URL = "http://127.0.0.1:8000"

# Seconds one HTTP request may take (connect, each read, each write).
DEFAULT_TIMEOUT_S = 10.0

# Headers the API reads (jobq_core.names spells the same; a test holds them together).
IDEMPOTENCY_HEADER = "Idempotency-Key"
LAST_EVENT_ID_HEADER = "Last-Event-ID"
# A problem document's `type` is this followed by its slug (`…/problems/not-found`).
PROBLEM_TYPE_BASE = "https://jobq.dev/problems/"

EVENTS_PATH = "/v1/events"
