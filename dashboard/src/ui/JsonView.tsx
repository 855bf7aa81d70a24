// A JSON tree that stays fast for a megabyte: children are rendered only when their
// node is open, long arrays and objects a hundred members at a time, and numbers are
// shown exactly as the API wrote them (lossless.ts).
import { useState } from "react";

import { stringify, type JsonNode } from "../lib/lossless";

const CHUNK = 100;

function Scalar({ node }: { node: JsonNode }) {
  switch (node.t) {
    case "null":
      return <span className="j-null">null</span>;
    case "bool":
      return <span className="j-bool">{String(node.v)}</span>;
    case "num":
      return <span className="j-num">{node.text}</span>;
    case "str":
      return <span className="j-str">{JSON.stringify(node.v)}</span>;
    default:
      return null;
  }
}

function size(node: JsonNode): number {
  return node.t === "arr" ? node.items.length : node.t === "obj" ? node.entries.length : 0;
}

function Branch({ label, node, depth }: { label: string | null; node: JsonNode; depth: number }) {
  const [open, setOpen] = useState(depth < 2 && size(node) <= CHUNK);
  const [shown, setShown] = useState(CHUNK);
  const isArray = node.t === "arr";
  const count = size(node);
  const children: [string, JsonNode][] =
    node.t === "arr" ? node.items.slice(0, shown).map((n, k) => [String(k), n]) : node.t === "obj" ? node.entries.slice(0, shown) : [];
  return (
    <li>
      <button type="button" className="j-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        {label !== null && <span className="j-key">{label}: </span>}
        {isArray ? `[${count}]` : `{${count}}`}
      </button>
      {open && (
        <ul>
          {children.map(([key, child]) => (
            <Node key={key} label={isArray ? null : key} index={isArray ? key : null} node={child} depth={depth + 1} />
          ))}
          {count > shown && (
            <li>
              <button type="button" onClick={() => setShown(shown + CHUNK)}>
                Show {Math.min(CHUNK, count - shown)} more of {count - shown}
              </button>
            </li>
          )}
        </ul>
      )}
    </li>
  );
}

function Node({ label, index, node, depth }: { label: string | null; index: string | null; node: JsonNode; depth: number }) {
  if (node.t === "arr" || node.t === "obj") return <Branch label={label ?? index} node={node} depth={depth} />;
  return (
    <li>
      {label !== null && <span className="j-key">{label}: </span>}
      <Scalar node={node} />
    </li>
  );
}

/** A JSON value as a tree, with a button to copy it exactly. */
export function JsonView({ node, label }: { node: JsonNode | null; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <figure className="json" aria-label={label}>
      <figcaption>
        {label}
        {node && (
          <button
            type="button"
            className="small"
            onClick={() => {
              void navigator.clipboard?.writeText(stringify(node)).then(() => setCopied(true));
            }}
          >
            {copied ? "Copied" : "Copy"}
          </button>
        )}
      </figcaption>
      <div className="j-tree">
        {node === null ? (
          <span className="muted">—</span>
        ) : (
          <ul>
            <Node label={null} index={null} node={node} depth={0} />
          </ul>
        )}
      </div>
    </figure>
  );
}
