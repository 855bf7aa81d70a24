// "All N matching": one action for every job the list's filters match, however many, as
// the API's bulk operation: a preview with its count, a confirmation, then progress while
// the leader works through them in batches, with a stop. Nothing changes before confirm.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";

import { ApiError, api, call, type Schemas } from "../api/client";
import { countText, type JobCount } from "../lib/count";
import { ErrorNote, FieldError } from "../ui/parts";

type BulkFilter = Schemas["BulkFilterIn"];
type BulkAction = Schemas["BulkOperationIn"]["action"];
type BulkOperation = Schemas["BulkOperationOut"];

const ACTIONS: { action: BulkAction; label: string; doing: string }[] = [
  { action: "retry", label: "Retry", doing: "Retrying" },
  { action: "cancel", label: "Cancel", doing: "Cancelling" },
  { action: "delete", label: "Delete", doing: "Deleting" },
  { action: "set_priority", label: "Change priority", doing: "Changing the priority of" },
];
/** Which jobs each action changes; the others it meets are counted skipped. */
const APPLIES_TO: Record<BulkAction, string> = {
  retry: "dead and cancelled jobs get one more attempt",
  cancel: "waiting jobs are cancelled and running ones asked to stop",
  delete: "every job but a running one is deleted",
  set_priority: "scheduled and queued jobs take the new priority",
};
const PROGRESS_POLL_MS = 1000;

function describe(action: BulkAction): (typeof ACTIONS)[number] {
  return ACTIONS.find((a) => a.action === action) ?? ACTIONS[0]!;
}

/** The progress of a confirmed operation, read until it ends; with its stop button. */
function Progress({ operationId, canStop, onEnded }: { operationId: string; canStop: boolean; onEnded(): void }) {
  const queryClient = useQueryClient();
  const operation = useQuery({
    queryKey: ["bulk-operation", operationId],
    queryFn: () => call(api.GET("/v1/bulk-operations/{operation_id}", { params: { path: { operation_id: operationId } } })),
    refetchInterval: (query) => (query.state.data && query.state.data.status !== "running" ? false : PROGRESS_POLL_MS),
  });
  const stop = useMutation({
    mutationFn: () => call(api.POST("/v1/bulk-operations/{operation_id}/cancel", { params: { path: { operation_id: operationId } } })),
    onSuccess: (stopped) => queryClient.setQueryData(["bulk-operation", operationId], stopped),
  });
  const op = operation.data;
  const ended = op !== undefined && op.status !== "running";
  const told = useRef(false);
  useEffect(() => {
    if (ended && !told.current) {
      told.current = true;
      onEnded();
    }
  }, [ended, onEnded]);
  if (!op) return <ErrorNote error={operation.error} />;
  const { doing } = describe(op.action);
  const total = Math.max(op.matched.value, op.processed);
  const verdict = op.status === "done" ? "done" : op.status === "cancelled" ? "stopped" : "running";
  return (
    <div className="bulk-progress" role="status" aria-label="Bulk operation">
      <span>
        {doing} all matching: {op.processed.toLocaleString("en")} of {countText({ ...op.matched, value: total })} looked at ·{" "}
        {op.changed.toLocaleString("en")} changed · {op.skipped.toLocaleString("en")} skipped — {verdict}
      </span>
      <progress max={total || 1} value={op.processed} aria-label="Jobs looked at" />
      {op.status === "running" && canStop && (
        <button type="button" onClick={() => stop.mutate()} disabled={stop.isPending}>
          Stop
        </button>
      )}
      <ErrorNote error={operation.error ?? stop.error} />
    </div>
  );
}

/** The dialog: choose the action, see how many it would touch, confirm. */
function BulkDialog({
  filters,
  summary,
  onStarted,
  onClose,
}: {
  filters: BulkFilter;
  summary: string;
  onStarted(operation: BulkOperation): void;
  onClose(): void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [action, setAction] = useState<BulkAction>("retry");
  const [priority, setPriority] = useState("10");
  useEffect(() => dialog.current?.showModal(), []);

  const preview = useMutation({
    mutationFn: () =>
      call(
        api.POST("/v1/bulk-operations", {
          body: { action, filter: filters, priority: action === "set_priority" ? Number(priority) : undefined },
        }),
      ),
  });
  // Set before the dialog closes: the close handler may run before React renders the
  // confirmation, and must not take the running operation for an unconfirmed preview.
  const confirmed = useRef(false);
  const confirm = useMutation({
    mutationFn: (operationId: string) =>
      call(api.POST("/v1/bulk-operations/{operation_id}/confirm", { params: { path: { operation_id: operationId } } })),
    onSuccess: (started) => {
      confirmed.current = true;
      onStarted(started);
      dialog.current?.close();
    },
  });
  // A previewed operation nobody confirms is dropped, so closing leaves nothing behind.
  const drop = (operationId: string) =>
    void api.POST("/v1/bulk-operations/{operation_id}/cancel", { params: { path: { operation_id: operationId } } });

  const previewed = preview.data;
  const { label } = describe(action);
  return (
    <dialog
      ref={dialog}
      aria-labelledby="bulk-title"
      className="confirm"
      onClose={() => {
        if (previewed && !confirmed.current) drop(previewed.id);
        onClose();
      }}
    >
      <h2 id="bulk-title">Act on every matching job</h2>
      <p className="muted">{summary}</p>
      <label>
        Action
        <select
          value={action}
          onChange={(e) => {
            if (previewed) drop(previewed.id);
            preview.reset();
            setAction(e.target.value as BulkAction);
          }}
        >
          {ACTIONS.map((a) => (
            <option key={a.action} value={a.action}>
              {a.label}
            </option>
          ))}
        </select>
      </label>
      {action === "set_priority" && (
        <label>
          Priority (−100 to 100)
          <input
            type="number"
            value={priority}
            aria-describedby="bulk-priority-error"
            aria-invalid={preview.error instanceof ApiError && Boolean(preview.error.fieldError("priority"))}
            onChange={(e) => {
              if (previewed) drop(previewed.id);
              preview.reset();
              setPriority(e.target.value);
            }}
          />
          <FieldError id="bulk-priority-error" error={preview.error} field="priority" />
        </label>
      )}
      {previewed ? (
        <p>
          {label} {countText(previewed.matched)} matching job(s)? {APPLIES_TO[action]}; a job whose state moved meanwhile
          is skipped. Jobs submitted from now on are not touched.
        </p>
      ) : (
        <p className="muted">Nothing changes until you confirm: first see how many jobs it would touch.</p>
      )}
      <ErrorNote error={preview.error ?? confirm.error} />
      <div className="actions">
        <button type="button" onClick={() => dialog.current?.close()}>
          Close
        </button>
        {previewed ? (
          <button type="button" className="danger" disabled={confirm.isPending} onClick={() => confirm.mutate(previewed.id)}>
            {label} {countText(previewed.matched)}
          </button>
        ) : (
          <button type="button" disabled={preview.isPending} onClick={() => preview.mutate()}>
            Preview
          </button>
        )}
      </div>
    </dialog>
  );
}

/** "Act on all N matching…" under the search box, and the progress of what it started. */
export function BulkMatching({ filters, count, summary }: { filters: BulkFilter; count: JobCount | undefined; summary: string }) {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [running, setRunning] = useState<string | null>(null);
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["jobs"] });
    void queryClient.invalidateQueries({ queryKey: ["job-count"] });
    void queryClient.invalidateQueries({ queryKey: ["queues"] });
  };
  return (
    <div className="bulk">
      <button type="button" disabled={!count || count.value === 0} onClick={() => setOpen(true)}>
        Act on all {count ? countText(count) : ""} matching…
      </button>
      {open && (
        <BulkDialog
          filters={filters}
          summary={summary}
          onStarted={(started) => setRunning(started.id)}
          onClose={() => setOpen(false)}
        />
      )}
      {running && <Progress key={running} operationId={running} canStop onEnded={refresh} />}
    </div>
  );
}
