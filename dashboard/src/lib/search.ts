// The jobs page's search box: qualifiers (`type:email.send queue:mail tag:vip
// id:… status:dead error:"timed out" payload.user.id:123`) and free text.

export interface Qualifier {
  key: string;
  value: string;
}

export interface ParsedSearch {
  qualifiers: Qualifier[];
  /** Words without a qualifier. */
  text: string[];
}

const TOKEN = /(?:([A-Za-z_][\w.-]*):)?(?:"((?:[^"\\]|\\.)*)"|(\S+))/g;

/** Split `input` into qualifiers and free words; quoted values keep their spaces. */
export function parseSearch(input: string): ParsedSearch {
  const qualifiers: Qualifier[] = [];
  const text: string[] = [];
  for (const match of input.matchAll(TOKEN)) {
    const [, key, quoted, bare] = match;
    const value = quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : (bare ?? "");
    if (key !== undefined) qualifiers.push({ key: lowerName(key), value });
    else if (value) text.push(value);
  }
  return { qualifiers, text };
}

/** `Payload.userId` → `payload.userId`: the qualifier's name ignores case, a payload path does not. */
function lowerName(key: string): string {
  const dot = key.indexOf(".");
  return dot < 0 ? key.toLowerCase() : key.slice(0, dot).toLowerCase() + key.slice(dot);
}

/** Quote a value when it needs it, so formatSearch(parseSearch(s)) reads back the same. */
function quote(value: string): string {
  return /[\s"]/.test(value) || value === "" ? `"${value.replace(/(["\\])/g, "\\$1")}"` : value;
}

export function formatSearch(search: ParsedSearch): string {
  return [...search.qualifiers.map((q) => `${q.key}:${quote(q.value)}`), ...search.text.map(quote)].join(" ");
}

/** The filters the jobs list understands, as URL search params. */
export interface JobFilters {
  status?: string;
  type?: string;
  queue?: string;
  tag?: string;
  id?: string;
  /** Text in the last error's message. */
  error?: string;
  /** `path=value` each (`user.id=123`), from `payload.user.id:123`. */
  payload?: string[];
}

const FILTER_KEYS = ["status", "type", "queue", "tag", "id", "error"] as const;
const PAYLOAD = "payload.";

/** Filters from a search, and what of it the list cannot filter on (yet). */
export function toFilters(search: ParsedSearch): { filters: JobFilters; unsupported: string[] } {
  const filters: JobFilters = {};
  const unsupported: string[] = [];
  for (const q of search.qualifiers) {
    const key = FILTER_KEYS.find((k) => k === q.key);
    if (key) filters[key] = q.value;
    else if (q.key.startsWith(PAYLOAD) && q.key.length > PAYLOAD.length)
      filters.payload = [...(filters.payload ?? []), `${q.key.slice(PAYLOAD.length)}=${q.value}`];
    else unsupported.push(`${q.key}:${quote(q.value)}`);
  }
  for (const word of search.text) {
    // A bare job id is the most common thing pasted into a search box.
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(word)) filters.id = word.toLowerCase();
    else unsupported.push(quote(word));
  }
  return { filters, unsupported };
}

/** The search text that shows `filters` (the box reflects the URL). */
export function fromFilters(filters: JobFilters): string {
  const named = FILTER_KEYS.flatMap((k) => (filters[k] ? [{ key: k, value: filters[k] as string }] : []));
  // A payload filter's path has no `=`, so the first one ends it.
  const payload = (filters.payload ?? []).flatMap((f) => {
    const at = f.indexOf("=");
    return at > 0 ? [{ key: PAYLOAD + f.slice(0, at), value: f.slice(at + 1) }] : [];
  });
  return formatSearch({ qualifiers: [...named, ...payload], text: [] });
}
