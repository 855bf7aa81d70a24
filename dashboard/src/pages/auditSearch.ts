// The audit page's URL search params, checked; apart from the page, which is loaded when
// first opened, because the router needs them up front.
import type { Schemas } from "../api/client";

type Action = Schemas["AuditEntryOut"]["action"];
// The order the API documents them in.
export const ACTIONS = [
  "job.cancel", "job.retry", "job.run_now", "job.delete", "dead_group.retry", "queue.pause", "queue.resume",
  "schedule.create", "schedule.update", "schedule.pause", "schedule.resume", "schedule.run", "schedule.delete",
  "key.create", "key.revoke", "bulk.confirm", "bulk.cancel",
] as const satisfies readonly Action[];
// Fails to compile when the API gains an action this list lacks.
const everyAction: Exclude<Action, (typeof ACTIONS)[number]> extends never ? true : never = true;
void everyAction;

export interface AuditSearch {
  action?: Action;
  key_name?: string;
  target?: string;
  cursor?: string;
}

export function validateAuditSearch(raw: Record<string, unknown>): AuditSearch {
  const text = (key: string) => (typeof raw[key] === "string" && raw[key] ? (raw[key] as string) : undefined);
  const action = text("action");
  return {
    action: ACTIONS.find((a) => a === action),
    key_name: text("key_name"),
    target: text("target"),
    cursor: text("cursor"),
  };
}
