// Server-sent events over fetch: GET /v1/events needs the API key in a header, which
// EventSource cannot send. EventStreamParser reads the text/event-stream format as the
// HTML spec's "interpreting an event stream" does, from chunks split anywhere;
// subscribe() keeps a stream open, reconnecting with Last-Event-ID and back-off.
//
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

/** One dispatched event, as EventSource would give it. */
export interface ParsedEvent {
  /** The `event:` field; "message" without one. */
  type: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last `id:` seen on the stream so far (it carries over to later events). */
  lastEventId: string;
}

/** An incremental text/event-stream parser: feed it decoded text, get the events it completes. */
export class EventStreamParser {
  /** The last event id seen; sent back as Last-Event-ID when reconnecting. */
  lastEventId: string;
  /** The reconnection time the server asked for with `retry:`, in milliseconds. */
  retryMs: number | null = null;
  /** How many comment lines (`: keep-alive`) were read. */
  comments = 0;

  private line = "";
  private afterCR = false;
  private started = false;
  private data: string[] = [];
  private type = "";

  constructor(lastEventId = "") {
    this.lastEventId = lastEventId;
  }

  /** Take the next piece of the stream; the events whose blank line it completed. */
  feed(chunk: string): ParsedEvent[] {
    const events: ParsedEvent[] = [];
    let text = chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // one leading BOM is dropped
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      if (c === 10 && this.afterCR && i === start && this.line === "") {
        // The LF of a CRLF whose CR ended the previous piece (or line).
        this.afterCR = false;
        start = i + 1;
        continue;
      }
      this.line += text.slice(start, i);
      this.processLine(this.line, events);
      this.line = "";
      this.afterCR = c === 13;
      start = i + 1;
      if (c === 13 && text.charCodeAt(i + 1) === 10) {
        i++;
        start = i + 1;
        this.afterCR = false;
      }
    }
    if (start < text.length) {
      this.line += text.slice(start);
      this.afterCR = false;
    }
    return events;
  }

  private processLine(line: string, events: ParsedEvent[]): void {
    if (line === "") {
      this.dispatch(events);
      return;
    }
    if (line.startsWith(":")) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.type = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        break;
      default: // unknown fields are ignored
    }
  }

  private dispatch(events: ParsedEvent[]): void {
    const data = this.data;
    const type = this.type;
    this.data = [];
    this.type = "";
    if (data.length === 0) return; // a block with no data (a lone `retry:` or `id:`) dispatches nothing
    events.push({ type: type || "message", data: data.join("\n"), lastEventId: this.lastEventId });
  }
}

/** How the stream is doing: reading events, waiting to reconnect, or given up (a refused key). */
export type StreamStatus = "live" | "reconnecting" | "failed";

/** An event of GET /v1/events: its type, id, and its data read as JSON. */
export interface StreamEvent {
  event: string;
  id: string;
  data: unknown;
}

export interface SubscribeOptions {
  /** The fetch to use (tests pass their own). */
  fetch?: typeof fetch;
  /** The first wait before reconnecting, when the server said no `retry:`; doubled per failure in a row. */
  initialDelayMs?: number;
  /** The longest wait between reconnects. */
  maxDelayMs?: number;
  /** Reconnect when nothing, not even a keep-alive, arrived for this long. */
  silenceMs?: number;
  /** 0 ≤ x < 1, for jitter (tests pass a constant). */
  random?: () => number;
}

/** Why a response cannot be retried: the key is refused, or the server has no such stream. */
class Refused extends Error {}

/**
 * Keep `url` open as an event stream and hand each event to `onEvent`, its data parsed as
 * JSON. When the connection drops it reconnects with Last-Event-ID (the server then sends
 * what was missed, or a `reset` event), waiting the server's `retry` and backing off while
 * it keeps failing. `headers` is read again on every connect (a key may change). 401, 403,
 * 404 and other 4xx answers end it with status "failed". Returns a function that stops it.
 */
export function subscribe(
  url: string,
  headers: Record<string, string> | (() => Record<string, string>),
  onEvent: (event: StreamEvent) => void,
  onStatus: (status: StreamStatus) => void,
  options: SubscribeOptions = {},
): () => void {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const initialDelay = options.initialDelayMs ?? 2_000;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const silenceMs = options.silenceMs ?? 45_000;
  const random = options.random ?? Math.random;
  const stopped = new AbortController();
  let lastEventId = "";
  let retryMs: number | null = null;
  let failures = 0;
  let status: StreamStatus | null = null;

  const report = (next: StreamStatus) => {
    if (next !== status && !stopped.signal.aborted) {
      status = next;
      onStatus(next);
    }
  };

  // "ended": the server closed a live stream (it does every few minutes, and when it
  // stops): reconnect without calling it an outage. "dropped": it failed.
  const connectOnce = async (): Promise<"ended" | "dropped"> => {
    const attempt = new AbortController();
    const abort = () => attempt.abort();
    stopped.signal.addEventListener("abort", abort);
    let silence: ReturnType<typeof setTimeout> | undefined;
    const heard = () => {
      clearTimeout(silence);
      silence = setTimeout(abort, silenceMs);
    };
    try {
      const given = typeof headers === "function" ? headers() : headers;
      const request: Record<string, string> = { ...given, Accept: "text/event-stream" };
      if (lastEventId) request["Last-Event-ID"] = lastEventId;
      heard();
      const response = await doFetch(url, { headers: request, signal: attempt.signal, cache: "no-store" });
      if (!response.ok) {
        if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
          throw new Refused(`${response.status}`);
        }
        return "dropped";
      }
      if (!response.body || !(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
        throw new Refused("not an event stream");
      }
      const parser = new EventStreamParser(lastEventId);
      const decoder = new TextDecoder();
      const reader = response.body.getReader();
      report("live");
      let received = false;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received = true;
        heard();
        for (const event of parser.feed(decoder.decode(value, { stream: true }))) {
          lastEventId = parser.lastEventId;
          failures = 0; // events flow: the next drop reconnects after the shortest wait
          if (stopped.signal.aborted) return "ended";
          onEvent({ event: event.type, id: event.lastEventId, data: readData(event.data) });
        }
        lastEventId = parser.lastEventId;
        retryMs = parser.retryMs ?? retryMs;
      }
      return received ? "ended" : "dropped";
    } finally {
      clearTimeout(silence);
      stopped.signal.removeEventListener("abort", abort);
    }
  };

  const run = async () => {
    while (!stopped.signal.aborted) {
      let outcome: "ended" | "dropped" = "dropped";
      try {
        outcome = await connectOnce();
      } catch (error) {
        if (error instanceof Refused) {
          report("failed");
          return;
        }
        // A network error, or an abort after a silence: reconnect.
      }
      if (stopped.signal.aborted) return;
      if (outcome === "dropped") report("reconnecting");
      const base = Math.max(retryMs ?? initialDelay, initialDelay);
      const wait = Math.min(maxDelay, base * 2 ** Math.min(failures, 10)) * (0.8 + 0.4 * random());
      failures++;
      await sleep(wait, stopped.signal);
    }
  };

  void run();
  return () => stopped.abort();
}

function readData(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
