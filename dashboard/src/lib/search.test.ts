import { describe, expect, it } from "vitest";

import { formatSearch, fromFilters, parseSearch, toFilters } from "./search";

describe("parseSearch", () => {
  it("reads qualifiers, quoted values and free words", () => {
    expect(parseSearch('type:email.send error:"timed out after 30s" hello payload.user.id:123')).toEqual({
      qualifiers: [
        { key: "type", value: "email.send" },
        { key: "error", value: "timed out after 30s" },
        { key: "payload.user.id", value: "123" },
      ],
      text: ["hello"],
    });
  });

  it("keeps escaped quotes inside a quoted value", () => {
    expect(parseSearch('error:"say \\"hi\\""').qualifiers).toEqual([{ key: "error", value: 'say "hi"' }]);
  });

  it("lower-cases qualifier names but not values", () => {
    expect(parseSearch("Queue:Mail").qualifiers).toEqual([{ key: "queue", value: "Mail" }]);
  });

  it("keeps the case of a payload path, and its dashes", () => {
    expect(parseSearch("Payload.userId:7 payload.x-request-id:abc").qualifiers).toEqual([
      { key: "payload.userId", value: "7" },
      { key: "payload.x-request-id", value: "abc" },
    ]);
  });

  it("is empty for blank input", () => {
    expect(parseSearch("   ")).toEqual({ qualifiers: [], text: [] });
  });

  it("round-trips through formatSearch", () => {
    const input = 'queue:mail error:"a b" tag:vip word';
    expect(parseSearch(formatSearch(parseSearch(input)))).toEqual(parseSearch(input));
  });
});

describe("toFilters", () => {
  it("maps the list's filters and reports the rest", () => {
    const { filters, unsupported } = toFilters(parseSearch('status:dead queue:mail priority:"5" free'));
    expect(filters).toEqual({ status: "dead", queue: "mail" });
    expect(unsupported).toEqual(["priority:5", "free"]);
  });

  it("maps error: and every payload.<path>: qualifier", () => {
    const search = 'error:"timed out" payload.user.id:123 payload.user.name:"Ada Lovelace" payload.vip:true';
    expect(toFilters(parseSearch(search))).toEqual({
      filters: { error: "timed out", payload: ["user.id=123", "user.name=Ada Lovelace", "vip=true"] },
      unsupported: [],
    });
  });

  it("reports payload with no path as unsupported", () => {
    expect(toFilters(parseSearch("payload.:1 payload:2"))).toEqual({
      filters: {},
      unsupported: ["payload.:1", "payload:2"],
    });
  });

  it("takes a bare job id as id:", () => {
    const id = "01a23201-d786-79b2-8062-ecc0b899de50";
    expect(toFilters(parseSearch(id.toUpperCase())).filters).toEqual({ id });
  });

  it("shows filters back as search text", () => {
    expect(fromFilters({ queue: "mail", tag: "needs review" })).toBe('queue:mail tag:"needs review"');
  });

  it("shows error and payload filters back as search text", () => {
    expect(fromFilters({ status: "dead", error: "timed out", payload: ["user.id=123", 'name="Ada"'] })).toBe(
      'status:dead error:"timed out" payload.user.id:123 payload.name:"\\"Ada\\""',
    );
  });

  it("leaves out a payload filter with no path", () => {
    expect(fromFilters({ payload: ["junk", "=1", "a=1"] })).toBe("payload.a:1");
  });

  it("round-trips filters through the search box", () => {
    const filters = {
      queue: "mail",
      error: 'say "hi" to 100%',
      payload: ["user.id=123", 'user.name="Ada Lovelace"', "query=a=b", "empty=", "userId=7"],
    };
    expect(toFilters(parseSearch(fromFilters(filters)))).toEqual({ filters, unsupported: [] });
  });
});
