// Audit log (admin): who changed what through the API, newest first, filtered by action,
// key and target, all in the URL; keyset pages.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { useEffect, useState, type FormEvent } from "react";

import { api, call, type Schemas } from "../api/client";
import { ErrorNote, Time } from "../ui/parts";
import { ACTIONS, type AuditSearch } from "./auditSearch";

function Target({ entry }: { entry: Schemas["AuditEntryOut"] }) {
  if (!entry.target) return <span className="muted">—</span>;
  if (entry.action.startsWith("job.")) {
    return (
      <Link to="/jobs/$jobId" params={{ jobId: entry.target }} className="mono">
        {entry.target}
      </Link>
    );
  }
  return <span className="mono">{entry.target}</span>;
}

export function AuditPage({ search }: { search: AuditSearch }) {
  const navigate = useNavigate({ from: "/audit" });
  const [keyName, setKeyName] = useState(search.key_name ?? "");
  const [target, setTarget] = useState(search.target ?? "");
  useEffect(() => {
    setKeyName(search.key_name ?? "");
    setTarget(search.target ?? "");
  }, [search.key_name, search.target]);

  const page = useQuery({
    queryKey: ["audit", search],
    queryFn: () => call(api.GET("/v1/audit", { params: { query: search } })),
    placeholderData: keepPreviousData,
  });

  function apply(event: FormEvent) {
    event.preventDefault();
    void navigate({ search: { ...search, key_name: keyName || undefined, target: target || undefined, cursor: undefined } });
  }

  const entries = page.data?.entries ?? [];
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form onSubmit={apply} className="search" aria-label="Filter the audit log">
        <label>
          Action
          <select
            value={search.action ?? ""}
            onChange={(e) =>
              void navigate({ search: { ...search, action: ACTIONS.find((a) => a === e.target.value), cursor: undefined } })
            }
          >
            <option value="">any</option>
            {ACTIONS.map((action) => (
              <option key={action} value={action}>
                {action}
              </option>
            ))}
          </select>
        </label>
        <label>
          Key name
          <input value={keyName} onChange={(e) => setKeyName(e.target.value)} />
        </label>
        <label>
          Target
          <input value={target} onChange={(e) => setTarget(e.target.value)} placeholder="job id, queue, schedule id" />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={page.error} />
      <table className="list" aria-busy={page.isFetching}>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Key</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.id}>
              <td>
                <Time value={entry.at} />
              </td>
              <td>{entry.key_name}</td>
              <td className="mono">{entry.action}</td>
              <td>
                <Target entry={entry} />
              </td>
              <td className="mono">{entry.detail ? JSON.stringify(entry.detail) : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page.isSuccess && entries.length === 0 && <p className="muted">Nothing recorded matches.</p>}
      <nav aria-label="Pages of the audit log" className="pager">
        {search.cursor && (
          <Link to="/audit" search={{ ...search, cursor: undefined }}>
            Newest
          </Link>
        )}
        {page.data?.next_cursor && (
          <Link to="/audit" search={{ ...search, cursor: page.data.next_cursor }}>
            Older
          </Link>
        )}
      </nav>
    </section>
  );
}
