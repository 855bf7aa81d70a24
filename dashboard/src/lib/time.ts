// Times as people on call read them: relative, UTC or local, the absolute UTC on hover.

export type TimeZoneChoice = "relative" | "utc" | "local";

export function utcText(date: Date): string {
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function localText(date: Date): string {
  return date.toLocaleString(undefined, { hour12: false });
}

/** "in 5 s", "3 min ago": the gap between `date` and `now`, in its largest unit. */
export function relativeText(date: Date, now: Date = new Date()): string {
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  const size = Math.abs(seconds);
  const [value, unit] =
    size < 60 ? [size, "s"] : size < 3600 ? [Math.round(size / 60), "min"] : size < 86400 ? [Math.round(size / 3600), "h"] : [Math.round(size / 86400), "d"];
  if (size < 1) return "now";
  return seconds > 0 ? `in ${value} ${unit}` : `${value} ${unit} ago`;
}

export function timeText(date: Date, choice: TimeZoneChoice, now?: Date): string {
  if (choice === "utc") return utcText(date);
  if (choice === "local") return localText(date);
  return relativeText(date, now);
}

/** Seconds as a short duration: "850 ms", "12.3 s", "4 min 10 s". */
export function durationText(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
