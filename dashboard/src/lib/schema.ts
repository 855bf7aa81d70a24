// Job types describe their payloads with JSON Schema (pydantic's). From it the Submit
// page draws a form, and checks a payload before sending it, so errors show inline at
// once; the API checks again, and its answer wins.

export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  title?: string;
  description?: string;
  default?: unknown;
}

export interface Problem {
  /** Dotted path from the payload's root ("" for the payload itself), as the API names fields under `payload.`. */
  field: string;
  message: string;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function accepts(type: string, value: unknown): boolean {
  const actual = typeOf(value);
  return type === actual || (type === "number" && actual === "integer");
}

const join = (path: string, key: string | number) => (path ? `${path}.${key}` : String(key));

/** What is wrong with `value` against `schema`; empty when nothing is. */
export function validate(schema: Schema, value: unknown, path = ""): Problem[] {
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) {
    const results = branches.map((b) => validate(b, value, path));
    return results.some((r) => r.length === 0) ? [] : (results.sort((a, b) => a.length - b.length)[0] ?? []);
  }
  const problems: Problem[] = [];
  const add = (message: string, at = path) => problems.push({ field: at, message });
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => accepts(t, value))) {
      add(`should be ${types.join(" or ")}`);
      return problems;
    }
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    add(`should be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`);
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) add(`should be at least ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) add(`should be at most ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum)
      add(`should be more than ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum)
      add(`should be less than ${schema.exclusiveMaximum}`);
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength)
      add(schema.minLength === 1 ? "should not be empty" : `should have at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength)
      add(`should have at most ${schema.maxLength} characters`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value))
      add(`should match the pattern ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) add(`should have at least ${schema.minItems} item(s)`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) add(`should have at most ${schema.maxItems} item(s)`);
    if (schema.items) value.forEach((item, k) => problems.push(...validate(schema.items as Schema, item, join(path, k))));
  }
  if (typeOf(value) === "object") {
    const object = value as Record<string, unknown>;
    for (const name of schema.required ?? []) if (!(name in object)) add("is required", join(path, name));
    for (const [name, item] of Object.entries(object)) {
      const property = schema.properties?.[name];
      if (property) problems.push(...validate(property, item, join(path, name)));
      else if (schema.additionalProperties === false) add("is not a field of this payload", join(path, name));
      else if (typeof schema.additionalProperties === "object")
        problems.push(...validate(schema.additionalProperties, item, join(path, name)));
    }
  }
  return problems;
}

export type FieldKind = "string" | "number" | "integer" | "boolean" | "enum" | "lines" | "json";

export interface FormField {
  name: string;
  label: string;
  kind: FieldKind;
  required: boolean;
  /** Null is allowed (an empty input sends nothing). */
  nullable: boolean;
  description?: string;
  options?: string[];
  schema: Schema;
}

function concrete(schema: Schema): { schema: Schema; nullable: boolean } {
  const branches = schema.anyOf ?? schema.oneOf;
  if (!branches) return { schema, nullable: false };
  const others = branches.filter((b) => b.type !== "null");
  return { schema: others.length === 1 && others[0] ? others[0] : schema, nullable: others.length < branches.length };
}

function kindOf(schema: Schema): FieldKind {
  if (schema.enum && schema.enum.every((e) => typeof e === "string")) return "enum";
  if (schema.type === "string") return "string";
  if (schema.type === "integer") return "integer";
  if (schema.type === "number") return "number";
  if (schema.type === "boolean") return "boolean";
  if (schema.type === "array" && schema.items?.type === "string") return "lines";
  return "json";
}

/** The form for an object schema: one field per property, in the schema's order. */
export function formFields(schema: Schema): FormField[] {
  return Object.entries(schema.properties ?? {}).map(([name, property]) => {
    const { schema: inner, nullable } = concrete(property);
    return {
      name,
      label: property.title ?? inner.title ?? name,
      kind: kindOf(inner),
      required: (schema.required ?? []).includes(name),
      nullable,
      description: property.description ?? inner.description,
      options: inner.enum?.map(String),
      schema: property,
    };
  });
}

/** What a field's input shows for a payload value. */
export function inputOf(field: FormField, value: unknown): string | boolean {
  if (field.kind === "boolean") return value === true;
  if (value === undefined || value === null) return "";
  if (field.kind === "lines") return Array.isArray(value) ? value.join("\n") : "";
  if (field.kind === "json") return JSON.stringify(value, null, 2);
  return String(value);
}

/** The payload value of a field's input; undefined leaves the field out; an error for JSON that is not. */
export function valueOf(field: FormField, input: string | boolean): { value?: unknown; error?: string } {
  if (field.kind === "boolean") return { value: input === true };
  const text = String(input);
  if (text.trim() === "") return {};
  if (field.kind === "number" || field.kind === "integer") {
    const n = Number(text);
    return Number.isNaN(n) ? { error: "should be a number" } : { value: n };
  }
  if (field.kind === "lines")
    return {
      value: text
        .split(/\n|,/)
        .map((s) => s.trim())
        .filter(Boolean),
    };
  if (field.kind === "json") {
    try {
      return { value: JSON.parse(text) as unknown };
    } catch {
      return { error: "should be JSON" };
    }
  }
  return { value: text };
}
