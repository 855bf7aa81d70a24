import { describe, expect, it } from "vitest";

import { JsonSyntaxError, member, parseLossless, stringify } from "./lossless";

describe("parseLossless", () => {
  it("keeps integers above 2^53 exactly as written", () => {
    const node = parseLossless('{"id": 9223372036854775807, "small": 1.5e3}');
    expect(member(node, "id")).toEqual({ t: "num", text: "9223372036854775807" });
    expect(JSON.parse('{"id": 9223372036854775807}').id).not.toBe(9223372036854775807n.toString());
    expect(member(node, "small")).toEqual({ t: "num", text: "1.5e3" });
  });

  it("reads every kind of value, escapes included", () => {
    const node = parseLossless('[null, true, false, "a\\"b\\u00e9\\n", {"k": []}]');
    expect(node).toEqual({
      t: "arr",
      items: [
        { t: "null" },
        { t: "bool", v: true },
        { t: "bool", v: false },
        { t: "str", v: 'a"bé\n' },
        { t: "obj", entries: [["k", { t: "arr", items: [] }]] },
      ],
    });
  });

  it("refuses what is not JSON, saying where", () => {
    expect(() => parseLossless('{"a": 1,}')).toThrow(JsonSyntaxError);
    expect(() => parseLossless("[1 2]")).toThrow(/position 3/);
    expect(() => parseLossless('"open')).toThrow(/unterminated/);
    expect(() => parseLossless("1 2")).toThrow(/after the value/);
  });

  it("writes back what it read, numbers untouched", () => {
    const text = '{"n": 12345678901234567890, "list": [1, {"x": "y"}], "e": {}}';
    expect(JSON.parse(stringify(parseLossless(text)))).toEqual(JSON.parse(text));
    expect(stringify(parseLossless(text))).toContain("12345678901234567890");
  });

  it("reads a payload of about a megabyte whole", () => {
    const big = JSON.stringify({ rows: Array.from({ length: 20000 }, (_, n) => ({ n, name: `row ${n}`, ok: true })) });
    expect(big.length).toBeGreaterThan(500_000);
    const rows = member(parseLossless(big), "rows");
    expect(rows?.t === "arr" && rows.items.length).toBe(20000);
  });
});
