// A tiny line chart as SVG: a queue's throughput at a glance. No chart library: the
// Overview draws at most a few hundred points per line.
export function Sparkline({ values, label }: { values: (number | null)[]; label: string }) {
  const width = 160;
  const height = 32;
  const points = values.map((v) => v ?? 0);
  const max = Math.max(1, ...points);
  const step = points.length > 1 ? width / (points.length - 1) : width;
  const path = points.map((v, k) => `${k === 0 ? "M" : "L"}${(k * step).toFixed(1)},${(height - (v / max) * (height - 2) - 1).toFixed(1)}`).join(" ");
  const total = points.reduce((a, b) => a + b, 0);
  return (
    <svg className="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${label}: ${total} in the window, at most ${max} per bucket`}>
      <path d={path} fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}
