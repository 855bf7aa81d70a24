// The frame around every page: environment banner, navigation, the live control.
import { Link, Outlet, useNavigate } from "@tanstack/react-router";
import { useEffect, useState } from "react";

import { config } from "../config";
import type { TimeZoneChoice } from "../lib/time";
import { LiveUpdates } from "./LiveUpdates";
import { OutageBanner } from "./Outage";
import { usePreferences, type LiveMode, type Theme } from "./preferences";
import { useSession } from "./session";
import { Shortcuts } from "./Shortcuts";

const PAGES = [
  { to: "/", label: "Overview" },
  { to: "/jobs", label: "Jobs" },
  { to: "/submit", label: "Submit" },
  { to: "/dead", label: "Dead jobs" },
  { to: "/queues", label: "Queues" },
  { to: "/workers", label: "Workers" },
  { to: "/schedules", label: "Schedules" },
] as const;

const LIVE_MODES = { live: "Live", polling: "Polling", paused: "Paused" } as const satisfies Record<LiveMode, string>;
const TIME_CHOICES = { relative: "Relative", utc: "UTC", local: "Local" } as const satisfies Record<TimeZoneChoice, string>;
const THEMES = { system: "System", light: "Light", dark: "Dark" } as const satisfies Record<Theme, string>;

/** A labelled select over a fixed set of choices, each with the text it shows. */
function Choice<T extends string>({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: T;
  options: Record<T, string>;
  onChange(value: T): void;
}) {
  const choices = Object.entries(options) as [T, string][];
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange(choices.find(([v]) => v === e.target.value)?.[0] ?? value)}>
        {choices.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Move the focus to the next (or previous) row's link of the list on the page. */
function moveRow(step: 1 | -1): void {
  const links = [...document.querySelectorAll<HTMLAnchorElement>("main table.list tbody tr")]
    .map((row) => row.querySelector<HTMLAnchorElement>("a"))
    .filter((a): a is HTMLAnchorElement => a !== null);
  if (links.length === 0) return;
  const at = links.findIndex((a) => a === document.activeElement);
  const next = at === -1 ? (step === 1 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
  links[next]?.focus();
}

export function EnvironmentBanner() {
  const { name } = config.environment;
  if (!name) return null;
  return (
    // React sets the colour through the CSSOM, which a strict style-src allows (an inline
    // style attribute in the HTML would not be).
    <div className="environment" style={{ backgroundColor: config.environment.color }} role="note" aria-label="Environment">
      {name}
    </div>
  );
}

export function Layout() {
  const { me, signOut } = useSession();
  const { theme, setTheme, times, setTimes, live, setLive, stream } = usePreferences();
  const [helpOpen, setHelpOpen] = useState(false);
  const navigate = useNavigate();

  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      const target = event.target as HTMLElement | null;
      if (target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
      if (event.key === "?") setHelpOpen(true);
      if (event.key === "j" || event.key === "k") moveRow(event.key === "j" ? 1 : -1);
      if (event.key === "/") {
        const search = document.querySelector<HTMLInputElement>("#job-search");
        if (search) {
          event.preventDefault();
          search.focus();
        } else {
          void navigate({ to: "/jobs" });
        }
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [navigate]);

  return (
    <div className="app">
      <EnvironmentBanner />
      <header className="top">
        <span className="brand">jobq</span>
        <nav aria-label="Pages">
          {PAGES.map((page) => (
            <Link key={page.to} to={page.to} activeOptions={{ exact: page.to === "/" }} activeProps={{ "aria-current": "page" }}>
              {page.label}
            </Link>
          ))}
          {config.localMail && (
            <Link to="/mail" activeProps={{ "aria-current": "page" }}>
              Mail
            </Link>
          )}
          {me?.can_admin && (
            <Link to="/api-keys" activeProps={{ "aria-current": "page" }}>
              API keys
            </Link>
          )}
          {me?.can_admin && (
            <Link to="/audit" activeProps={{ "aria-current": "page" }}>
              Audit
            </Link>
          )}
        </nav>
        <div className="controls">
          <Choice label="Updates" value={live} onChange={setLive} options={LIVE_MODES} />
          {live === "live" && (
            <span role="status" className={`stream stream-${stream}`} aria-label="Live updates">
              {stream === "live" ? "● live" : stream === "off" ? "connecting" : `${stream}, polling`}
            </span>
          )}
          <Choice label="Times" value={times} onChange={setTimes} options={TIME_CHOICES} />
          <Choice label="Theme" value={theme} onChange={setTheme} options={THEMES} />
          <span className="who" title={me?.scopes.join(", ")}>
            {me?.name}
            {me && !me.can_write && <span className="badge"> read-only</span>}
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <LiveUpdates />
      <OutageBanner />
      <main>
        <Outlet />
      </main>
      {helpOpen && <Shortcuts onClose={() => setHelpOpen(false)} />}
    </div>
  );
}
