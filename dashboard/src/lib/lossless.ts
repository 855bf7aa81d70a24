// JSON read without losing anything JavaScript's JSON.parse would: numbers keep their
// exact text (an id of 2^63 − 1 shows as written, not rounded to a double), and object
// keys keep their order and duplicates. The job page shows payloads and results with it.

export type JsonNode =
  | { t: "null" }
  | { t: "bool"; v: boolean }
  | { t: "num"; text: string }
  | { t: "str"; v: string }
  | { t: "arr"; items: JsonNode[] }
  | { t: "obj"; entries: [string, JsonNode][] };

export class JsonSyntaxError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at position ${position}`);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** Parse JSON `text` into nodes; JsonSyntaxError when it is not JSON. */
export function parseLossless(text: string): JsonNode {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t")) i++;
  };
  const fail = (what: string): never => {
    throw new JsonSyntaxError(what, i);
  };
  const literal = (word: string, node: JsonNode): JsonNode => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return node;
    }
    return fail("unexpected token");
  };
  const string = (): string => {
    i++; // the opening quote
    let out = "";
    let start = i;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c === "\\") {
        out += text.slice(start, i);
        const e = text[i + 1] ?? "";
        if (e === "u") {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else if (e in ESCAPES) {
          out += ESCAPES[e];
          i += 2;
        } else {
          fail("bad escape");
        }
        start = i;
      } else if (c !== undefined && c < " ") {
        fail("control character in a string");
      } else {
        i++;
      }
    }
    return fail("unterminated string");
  };
  const value = (): JsonNode => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: [string, JsonNode][] = [];
      ws();
      if (text[i] === "}") {
        i++;
        return { t: "obj", entries };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const key = string();
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        entries.push([key, value()]);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return { t: "obj", entries };
        } else fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { t: "arr", items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return { t: "arr", items };
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return { t: "str", v: string() };
    if (c === "t") return literal("true", { t: "bool", v: true });
    if (c === "f") return literal("false", { t: "bool", v: false });
    if (c === "n") return literal("null", { t: "null" });
    NUMBER.lastIndex = i;
    const match = NUMBER.exec(text);
    if (!match) return fail("unexpected token");
    i += match[0].length;
    return { t: "num", text: match[0] };
  };
  const root = value();
  ws();
  if (i !== text.length) fail("unexpected data after the value");
  return root;
}

/** The member `key` of an object node (the last one, as JSON.parse would keep). */
export function member(node: JsonNode, key: string): JsonNode | undefined {
  if (node.t !== "obj") return undefined;
  for (let k = node.entries.length - 1; k >= 0; k--) {
    const entry = node.entries[k];
    if (entry && entry[0] === key) return entry[1];
  }
  return undefined;
}

/** The node as JSON text, numbers exactly as they were written. */
export function stringify(node: JsonNode, indent = 2, depth = 0): string {
  const pad = " ".repeat(indent * (depth + 1));
  const end = " ".repeat(indent * depth);
  switch (node.t) {
    case "null":
      return "null";
    case "bool":
      return String(node.v);
    case "num":
      return node.text;
    case "str":
      return JSON.stringify(node.v);
    case "arr":
      return node.items.length === 0
        ? "[]"
        : `[\n${node.items.map((n) => pad + stringify(n, indent, depth + 1)).join(",\n")}\n${end}]`;
    case "obj":
      return node.entries.length === 0
        ? "{}"
        : `{\n${node.entries.map(([k, n]) => `${pad}${JSON.stringify(k)}: ${stringify(n, indent, depth + 1)}`).join(",\n")}\n${end}}`;
  }
}
