// How many jobs match, as the API counts them: exact up to a limit, PostgreSQL's estimate
// above it. An estimate is rounded and marked "~", so nobody reads 1,203,117 as exact.

export interface JobCount {
  value: number;
  exact: boolean;
}

/** "1,234" when exact; an estimate to two significant digits: "~12k", "~1.2M", "~35M". */
export function countText({ value, exact }: JobCount): string {
  if (exact) return value.toLocaleString("en");
  const rounded = Number(value.toPrecision(2));
  if (rounded >= 1e6) return `~${rounded / 1e6}M`;
  return rounded >= 1e3 ? `~${rounded / 1e3}k` : `~${rounded}`;
}

/** The sentence under the search box: "1 job matches", "~1.2M jobs match". */
export function matchText(count: JobCount): string {
  const one = count.exact && count.value === 1;
  return `${countText(count)} ${one ? "job matches" : "jobs match"}`;
}
