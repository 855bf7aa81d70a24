import { describe, expect, it } from "vitest";

import { EventStreamParser, type ParsedEvent, type StreamEvent, type StreamStatus, subscribe } from "./events";

/** Every event of `text` fed as the given pieces. */
function parse(...pieces: string[]): ParsedEvent[] {
  const parser = new EventStreamParser();
  return pieces.flatMap((piece) => parser.feed(piece));
}

const SAMPLE =
  "retry: 2000\n\n" +
  'id: ab-1\nevent: job\ndata: {"id":"j1","status":"queued"}\n\n' +
  ": keep-alive\n\n" +
  "data: first line\ndata: second line\n\n" +
  "id: ab-2\r\nevent: queues\r\ndata: {}\r\n\r\n" +
  "event: reset\rdata: x\r\r";

describe("EventStreamParser", () => {
  it("reads event, data, id, retry and skips comments", () => {
    const parser = new EventStreamParser();
    const events = parser.feed(SAMPLE);

    expect(events).toEqual([
      { type: "job", data: '{"id":"j1","status":"queued"}', lastEventId: "ab-1" },
      { type: "message", data: "first line\nsecond line", lastEventId: "ab-1" },
      { type: "queues", data: "{}", lastEventId: "ab-2" },
      { type: "reset", data: "x", lastEventId: "ab-2" },
    ]);
    expect(parser.retryMs).toBe(2000);
    expect(parser.comments).toBe(1);
    expect(parser.lastEventId).toBe("ab-2");
  });

  it("gives the same events however the stream is split, CRLF halves included", () => {
    const whole = parse(SAMPLE);
    for (let i = 0; i <= SAMPLE.length; i++) {
      expect(parse(SAMPLE.slice(0, i), SAMPLE.slice(i))).toEqual(whole);
    }
    for (let i = 0; i < SAMPLE.length; i++) {
      for (let j = i; j <= SAMPLE.length; j += 7) {
        expect(parse(SAMPLE.slice(0, i), SAMPLE.slice(i, j), SAMPLE.slice(j))).toEqual(whole);
      }
    }
    expect(parse(...SAMPLE.split(""))).toEqual(whole);
  });

  it("takes CR, LF and CRLF as line ends, and CR CR or LF LF as a blank line", () => {
    const events = [parse("data: a\n\n"), parse("data: a\r\n\r\n"), parse("data: a\r\r"), parse("data: a\r", "\n\r\n")];
    for (const got of events) expect(got).toEqual([{ type: "message", data: "a", lastEventId: "" }]);
    // A CR then a lone CR is a line end and then a blank line, not one CRLF.
    expect(parse("data: a\r", "\r")).toHaveLength(1);
  });

  it("strips one space after the colon, keeps the rest, and reads a field without a colon", () => {
    expect(parse("data:  two spaces\ndata:none\ndata\n\n")).toEqual([
      { type: "message", data: " two spaces\nnone\n", lastEventId: "" },
    ]);
  });

  it("dispatches nothing for a block without data, and nothing for an unfinished event", () => {
    expect(parse("id: 7\n\nretry: 10\n\nevent: job\n\n")).toEqual([]);
    expect(parse("data: never ended\n")).toEqual([]);
    // An empty data line is still data: the event is dispatched with "".
    expect(parse("data\n\n")).toEqual([{ type: "message", data: "", lastEventId: "" }]);
  });

  it("keeps the last id across events, lets an empty id clear it, and ignores an id with NUL", () => {
    const events = parse("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 2\0x\ndata: d\n\n");
    expect(events.map((e) => e.lastEventId)).toEqual(["1", "1", "", ""]);
  });

  it("takes only digits as a retry, and ignores unknown fields", () => {
    const parser = new EventStreamParser();
    parser.feed("retry: 1500\nretry: 2s\nretry: -1\nfoo: bar\ndata: a\n\n");
    expect(parser.retryMs).toBe(1500);
  });

  it("drops one byte order mark at the start of the stream only", () => {
    expect(parse("\uFEFFdata: a\n\n", "data: \uFEFFb\n\n").map((e) => e.data)).toEqual(["a", "\uFEFFb"]);
    expect(parse("", "\uFEFFdata: a\n\n").map((e) => e.data)).toEqual(["a"]);
  });

  it("starts from a given last event id", () => {
    const parser = new EventStreamParser("ab-9");
    expect(parser.feed("data: x\n\n")).toEqual([{ type: "message", data: "x", lastEventId: "ab-9" }]);
  });
});

type Answer = (signal: AbortSignal) => Response;

/** A fetch that answers each call with the next scripted response, recording the requests. */
function scriptedFetch(responses: Answer[]) {
  const calls: Array<{ url: string; headers: Record<string, string> }> = [];
  const fake = (async (url: string, init?: RequestInit) => {
    calls.push({ url, headers: { ...(init?.headers as Record<string, string>) } });
    const next = responses.shift();
    if (!next) return new Promise<Response>(() => {}); // hangs: the test ends the subscription
    return next(init?.signal ?? new AbortController().signal);
  }) as unknown as typeof fetch;
  return { fake, calls };
}

/** An event-stream response of `text` in two chunks, split inside a multi-byte character
 * when there is one; it stays open unless `end`, and fails when the request is aborted. */
function stream(text: string, end = true): Answer {
  return (signal) =>
    new Response(
      new ReadableStream({
        start(controller) {
          const bytes = new TextEncoder().encode(text);
          const wide = text.search(/[^\x00-\x7f]/);
          const cut = wide === -1 ? bytes.length >> 1 : new TextEncoder().encode(text.slice(0, wide)).length + 1;
          controller.enqueue(bytes.slice(0, cut));
          controller.enqueue(bytes.slice(cut));
          if (end) controller.close();
          signal.addEventListener("abort", () => controller.error(new DOMException("aborted", "AbortError")));
        },
      }),
      { status: 200, headers: { "Content-Type": "text/event-stream" } },
    );
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
}

describe("subscribe", () => {
  it("hands over events with their data parsed, and reconnects with Last-Event-ID", async () => {
    const { fake, calls } = scriptedFetch([
      stream('retry: 1\n\nid: r-1\nevent: job\ndata: {"id":"é1"}\n\nid: r-2\nevent: queues\ndata: {"queues":[]}\n\n'),
      () => new Response("busy", { status: 503 }),
      stream('id: r-3\nevent: job\ndata: {"id":"j2"}\n\n'),
    ]);
    const events: StreamEvent[] = [];
    const statuses: StreamStatus[] = [];
    const options = { fetch: fake, initialDelayMs: 1, random: () => 0.5 };
    const headers = { Authorization: "Bearer k" };
    const stop = subscribe("/v1/events", headers, (e) => events.push(e), (s) => statuses.push(s), options);
    await until(() => events.length === 3 && calls.length === 4);
    stop();

    expect(events).toEqual([
      { event: "job", id: "r-1", data: { id: "é1" } },
      { event: "queues", id: "r-2", data: { queues: [] } },
      { event: "job", id: "r-3", data: { id: "j2" } },
    ]);
    expect(calls.map((c) => c.headers["Last-Event-ID"])).toEqual([undefined, "r-2", "r-2", "r-3"]);
    expect(calls[0]?.headers).toMatchObject({ Authorization: "Bearer k", Accept: "text/event-stream" });
    // The server's clean end is no outage; the 503 is.
    expect(statuses).toEqual(["live", "reconnecting", "live"]);
  });

  it("gives up with failed when the key is refused", async () => {
    const { fake, calls } = scriptedFetch([() => new Response("{}", { status: 401 })]);
    const statuses: StreamStatus[] = [];
    subscribe("/v1/events", () => ({ Authorization: "Bearer bad" }), () => {}, (s) => statuses.push(s), {
      fetch: fake,
      initialDelayMs: 1,
    });
    await until(() => statuses.length === 1);
    await new Promise((r) => setTimeout(r, 20));

    expect(statuses).toEqual(["failed"]);
    expect(calls).toHaveLength(1);
  });

  it("reconnects when the stream goes silent", async () => {
    const silent = stream("id: s-1\nevent: job\ndata: {}\n\n", false);
    const { fake, calls } = scriptedFetch([silent, silent]);
    const statuses: StreamStatus[] = [];
    const stop = subscribe("/v1/events", {}, () => {}, (s) => statuses.push(s), {
      fetch: fake,
      initialDelayMs: 1,
      silenceMs: 30,
    });
    await until(() => calls.length >= 2);
    stop();

    expect(calls[1]?.headers["Last-Event-ID"]).toBe("s-1");
    expect(statuses.slice(0, 3)).toEqual(["live", "reconnecting", "live"]);
  });
});
