// What a person chose for this browser: theme, how times read, live or paused.
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";

import { readChoice, writeStored } from "../lib/storage";
import type { TimeZoneChoice } from "../lib/time";

export type Theme = "system" | "light" | "dark";
/** Live: the event stream patches what is shown (polling only while it is down). Polling: every few seconds. Paused: nothing is fetched again, not on focus, not on reconnect. */
export type LiveMode = "live" | "polling" | "paused";
/** `unavailable`: connected, but the server says it cannot see changes (PostgreSQL is down): poll meanwhile. */
export type StreamState = "live" | "reconnecting" | "failed" | "unavailable" | "off";

interface Preferences {
  theme: Theme;
  setTheme(theme: Theme): void;
  times: TimeZoneChoice;
  setTimes(times: TimeZoneChoice): void;
  live: LiveMode;
  setLive(live: LiveMode): void;
  stream: StreamState;
  setStream(stream: StreamState): void;
}

const PreferencesContext = createContext<Preferences | null>(null);

function applyTheme(theme: Theme): void {
  const dark = theme === "dark" || (theme === "system" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

export function PreferencesProvider({ children }: { children: ReactNode }) {
  const [theme, setThemeState] = useState<Theme>(() => readChoice("jobq.theme", ["system", "light", "dark"], "system"));
  const [times, setTimesState] = useState<TimeZoneChoice>(() =>
    readChoice("jobq.times", ["relative", "utc", "local"], "relative"),
  );
  const [live, setLive] = useState<LiveMode>("live");
  const [stream, setStream] = useState<StreamState>("off");

  useEffect(() => {
    applyTheme(theme);
    if (theme !== "system") return;
    const media = window.matchMedia("(prefers-color-scheme: dark)");
    const follow = () => applyTheme("system");
    media.addEventListener("change", follow);
    return () => media.removeEventListener("change", follow);
  }, [theme]);

  const value = useMemo<Preferences>(
    () => ({
      theme,
      setTheme(next) {
        writeStored("jobq.theme", next);
        setThemeState(next);
      },
      times,
      setTimes(next) {
        writeStored("jobq.times", next);
        setTimesState(next);
      },
      live,
      setLive,
      stream,
      setStream,
    }),
    [theme, times, live, stream],
  );
  return <PreferencesContext.Provider value={value}>{children}</PreferencesContext.Provider>;
}

export function usePreferences(): Preferences {
  const preferences = useContext(PreferencesContext);
  if (!preferences) throw new Error("usePreferences outside PreferencesProvider");
  return preferences;
}

export const POLL_INTERVAL_MS = 2000;
/** For what no event carries: twenty idle tabs on such a page then cost under one query a second. */
export const SLOW_POLL_MS = 30_000;

/**
 * Query options that follow the Live / Polling / Paused control.
 *
 * `streamed`: the event stream carries this query's changes, so while it is live the
 * query is not polled at all (twenty idle dashboards then cost the database nothing
 * but the stream's one look a second). Otherwise it is polled every `intervalMs` —
 * also in Live mode while the stream is down. Paused: no refetch of any kind.
 */
export function useLiveOptions(intervalMs: number = POLL_INTERVAL_MS, streamed = true) {
  const { live, stream } = usePreferences();
  if (live === "paused") return { refetchInterval: false as const, refetchOnWindowFocus: false, refetchOnReconnect: false };
  const pushed = live === "live" && stream === "live" && streamed;
  return {
    refetchInterval: pushed ? (false as const) : intervalMs,
    refetchOnWindowFocus: !pushed,
    refetchOnReconnect: !pushed,
  };
}
