// Desired against current replicas of one WorkerScaler over a window, as two step lines
// in SVG (no chart library: a window has at most a few hundred buckets).
export interface ReplicaPoint {
  /** Milliseconds since the epoch. */
  at: number;
  current: number;
  desired: number;
}

const WIDTH = 480;
const HEIGHT = 96;
const PAD = 4;

/** An SVG path that steps from point to point: each value holds until the next one. */
export function stepPath(points: { x: number; y: number }[]): string {
  return points
    .map((p, k) => (k === 0 ? `M${p.x.toFixed(1)},${p.y.toFixed(1)}` : `H${p.x.toFixed(1)} V${p.y.toFixed(1)}`))
    .join(" ");
}

export function ReplicaChart({
  points,
  start,
  end,
  label,
}: {
  points: ReplicaPoint[];
  start: number;
  end: number;
  label: string;
}) {
  const top = Math.max(1, ...points.flatMap((p) => [p.current, p.desired]));
  const x = (at: number) => PAD + ((at - start) / Math.max(1, end - start)) * (WIDTH - 2 * PAD);
  const y = (n: number) => HEIGHT - PAD - (n / top) * (HEIGHT - 2 * PAD);
  const line = (pick: (p: ReplicaPoint) => number) => {
    const steps = points.map((p) => ({ x: x(p.at), y: y(pick(p)) }));
    const last = steps[steps.length - 1];
    return stepPath(last ? [...steps, { x: x(end), y: last.y }] : []);
  };
  const peak = Math.max(0, ...points.map((p) => p.desired));
  const low = points.length ? Math.min(...points.map((p) => p.current)) : 0;
  return (
    <figure className="replicas">
      <svg
        width={WIDTH}
        height={HEIGHT}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`${label}: current replicas from ${low} up, desired at most ${peak}, over ${points.length} samples`}
      >
        <line x1={PAD} x2={WIDTH - PAD} y1={y(0)} y2={y(0)} className="axis" />
        <path d={line((p) => p.desired)} className="desired" />
        <path d={line((p) => p.current)} className="current" />
      </svg>
      <figcaption>
        <span className="key-current">current</span> <span className="key-desired">desired</span>{" "}
        <span className="muted">(0 to {top} replicas)</span>
      </figcaption>
    </figure>
  );
}
