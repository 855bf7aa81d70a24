// API keys (admin): create with scopes (the secret shown once), list, revoke.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { ApiError, api, call, type Schemas } from "../api/client";
import { ConfirmButton, ErrorNote, FieldError, Time } from "../ui/parts";
import { useSession } from "../ui/session";

type Created = Schemas["ApiKeyCreatedOut"];
const SCOPES = ["jobs:read", "jobs:write", "admin"] as const;

export function ApiKeysPage() {
  const { me } = useSession();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["jobs:read"]);
  const [created, setCreated] = useState<Created | null>(null);
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: () => call(api.GET("/v1/api-keys")) });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["api-keys"] });
  const create = useMutation({
    mutationFn: () => call(api.POST("/v1/api-keys", { body: { name, scopes: scopes as Schemas["ApiKeyIn"]["scopes"] } })),
    onSuccess: (key) => {
      setCreated(key);
      setName("");
      void refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => call(api.DELETE("/v1/api-keys/{key_id}", { params: { path: { key_id: id } } })),
    onSuccess: refresh,
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    setCreated(null);
    create.mutate();
  }

  const scopeError = create.error instanceof ApiError ? create.error.fieldErrorsUnder("scopes").concat(
    create.error.fieldError("scopes") ? [{ field: "", message: create.error.fieldError("scopes") as string }] : [],
  ) : [];
  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <form onSubmit={submit} className="form" aria-labelledby="new-key-title">
        <h2 id="new-key-title">New key</h2>
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} required aria-describedby="err-key-name" />
        </label>
        <FieldError id="err-key-name" error={create.error} field="name" />
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((scope) => (
            <label key={scope} className="inline">
              <input
                type="checkbox"
                checked={scopes.includes(scope)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))}
              />
              {scope}
            </label>
          ))}
        </fieldset>
        {scopeError.map((e) => (
          <span key={e.field + e.message} className="field-error" role="alert">
            {e.message}
          </span>
        ))}
        <button type="submit" disabled={create.isPending}>
          Create key
        </button>
        {create.error instanceof ApiError && !create.error.problem.errors?.length && <ErrorNote error={create.error} />}
      </form>
      {created && (
        <div role="status" className="secret">
          <p>
            The key <strong>{created.name}</strong> is made. Copy its secret now: it is not shown again.
          </p>
          <label>
            Secret
            <input readOnly value={created.secret} className="mono" onFocus={(e) => e.target.select()} />
          </label>
        </div>
      )}
      <ErrorNote error={keys.error ?? revoke.error} />
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Scopes</th>
            <th scope="col">Created</th>
            <th scope="col">State</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {(keys.data?.api_keys ?? []).map((key) => (
            <tr key={key.id}>
              <th scope="row">
                {key.name}
                {key.id === me?.id && <span className="muted"> (this key)</span>}
              </th>
              <td>{key.scopes.join(", ")}</td>
              <td>
                <Time value={key.created_at} />
              </td>
              <td>{key.revoked_at ? <span className="status status-dead">revoked</span> : "active"}</td>
              <td>
                {!key.revoked_at && key.id !== me?.id && (
                  <ConfirmButton
                    label="Revoke"
                    accessibleName={`Revoke ${key.name}`}
                    className="danger"
                    title={`Revoke the key "${key.name}"?`}
                    body={<p>Whatever uses it is refused from now on.</p>}
                    confirmLabel="Revoke key"
                    onConfirm={() => revoke.mutate(key.id)}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
