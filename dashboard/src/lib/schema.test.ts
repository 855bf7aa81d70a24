import { describe, expect, it } from "vitest";

import { formFields, inputOf, validate, valueOf, type Schema } from "./schema";

// jobq.sleep's and email.send's payload schemas, as pydantic writes them.
const SLEEP: Schema = {
  additionalProperties: false,
  properties: {
    seconds: { description: "Seconds to sleep.", maximum: 3600, minimum: 0, title: "Seconds", type: "number" },
    steps: { default: 1, maximum: 100, minimum: 1, title: "Steps", type: "integer" },
  },
  required: ["seconds"],
  type: "object",
};
const EMAIL: Schema = {
  type: "object",
  required: ["to", "subject"],
  properties: {
    to: { type: "array", minItems: 1, items: { type: "string", pattern: "^[^@\\s<>]+@[^@\\s<>]+$" }, title: "To" },
    from: { anyOf: [{ type: "string", pattern: "^[^@\\s<>]+@[^@\\s<>]+$" }, { type: "null" }], default: null, title: "From" },
    subject: { type: "string", minLength: 1, title: "Subject" },
    headers: { type: "object", additionalProperties: { type: "string" }, title: "Headers" },
  },
};

describe("validate", () => {
  it("accepts a good payload", () => {
    expect(validate(SLEEP, { seconds: 1.5, steps: 3 })).toEqual([]);
    expect(validate(EMAIL, { to: ["a@b.c"], subject: "hi", from: null })).toEqual([]);
  });

  it("names each field that is wrong, as the API does under payload.", () => {
    expect(validate(SLEEP, { seconds: "soon", steps: 0, extra: 1 })).toEqual([
      { field: "seconds", message: "should be number" },
      { field: "steps", message: "should be at least 1" },
      { field: "extra", message: "is not a field of this payload" },
    ]);
    expect(validate(SLEEP, {})).toEqual([{ field: "seconds", message: "is required" }]);
  });

  it("checks items, patterns and nullable values", () => {
    expect(validate(EMAIL, { to: ["not-an-address"], subject: "", from: "x" })).toEqual([
      { field: "to.0", message: "should match the pattern ^[^@\\s<>]+@[^@\\s<>]+$" },
      { field: "subject", message: "should not be empty" },
      { field: "from", message: "should match the pattern ^[^@\\s<>]+@[^@\\s<>]+$" },
    ]);
    expect(validate(EMAIL, { to: [], subject: "s", headers: { X: 1 } })).toEqual([
      { field: "to", message: "should have at least 1 item(s)" },
      { field: "headers.X", message: "should be string" },
    ]);
  });
});

describe("formFields", () => {
  it("makes a field per property with its kind", () => {
    const fields = formFields(EMAIL);
    expect(fields.map((f) => [f.name, f.kind, f.required, f.nullable])).toEqual([
      ["to", "lines", true, false],
      ["from", "string", false, true],
      ["subject", "string", true, false],
      ["headers", "json", false, false],
    ]);
  });

  it("turns inputs into payload values and back", () => {
    const [seconds, steps] = formFields(SLEEP);
    expect(valueOf(seconds!, "2.5")).toEqual({ value: 2.5 });
    expect(valueOf(steps!, "")).toEqual({});
    expect(valueOf(steps!, "many")).toEqual({ error: "should be a number" });
    const [to, , , headers] = formFields(EMAIL);
    expect(valueOf(to!, "a@b.c\nd@e.f")).toEqual({ value: ["a@b.c", "d@e.f"] });
    expect(inputOf(to!, ["a@b.c", "d@e.f"])).toBe("a@b.c\nd@e.f");
    expect(valueOf(headers!, "{oops")).toEqual({ error: "should be JSON" });
  });
});
