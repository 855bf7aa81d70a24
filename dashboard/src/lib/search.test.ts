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
    const { filters, unsupported } = toFilters(parseSearch('status:dead queue:mail error:"boom" free'));
    expect(filters).toEqual({ status: "dead", queue: "mail" });
    expect(unsupported).toEqual(['error:boom', "free"]);
  });

  it("takes a bare job id as id:", () => {
    const id = "01a23201-d786-79b2-8062-ecc0b899de50";
    expect(toFilters(parseSearch(id.toUpperCase())).filters).toEqual({ id });
  });

  it("shows filters back as search text", () => {
    expect(fromFilters({ queue: "mail", tag: "needs review" })).toBe('queue:mail tag:"needs review"');
  });
});
