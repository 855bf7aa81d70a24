// An outage shows as a banner naming what is down, never as a blank page.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { ApiError } from "../api/client";
import { config } from "../config";

interface Readiness {
  checks?: Record<string, string>;
}

async function whatIsDown(): Promise<string> {
  try {
    const response = await fetch(`${config.apiBase}/readyz`);
    const body = (await response.json()) as Readiness;
    const down = Object.entries(body.checks ?? {}).filter(([, state]) => state !== "ok");
    if (down.length) return down.map(([name, state]) => `${name}: ${state}`).join("; ");
    return "the API answered 503 (unavailable); retrying";
  } catch {
    return "the API cannot be reached";
  }
}

export function OutageBanner() {
  const cache = useQueryClient().getQueryCache();
  const [down, setDown] = useState<string | null>(null);

  useEffect(() => {
    let checking = false;
    return cache.subscribe(() => {
      const failing = cache
        .getAll()
        .some((q) => q.state.status === "error" && q.state.error instanceof ApiError && q.state.error.unavailable);
      if (!failing) {
        setDown(null);
      } else if (!checking) {
        checking = true;
        void whatIsDown().then((text) => {
          checking = false;
          setDown(text);
        });
      }
    });
  }, [cache]);

  if (!down) return null;
  return (
    <div role="alert" className="outage">
      <strong>Service unavailable</strong> — {down}. What is shown may be out of date.
    </div>
  );
}
