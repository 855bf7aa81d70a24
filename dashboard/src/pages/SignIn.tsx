import { useState, type FormEvent } from "react";

import { ApiError } from "../api/client";
import { EnvironmentBanner } from "../ui/Layout";
import { useSession } from "../ui/session";

export function SignIn() {
  const { signIn } = useSession();
  const [key, setKey] = useState("");
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(key.trim(), remember);
    } catch (e) {
      setError(
        e instanceof ApiError && e.status === 401
          ? "This key is not valid (unknown or revoked)."
          : e instanceof ApiError && e.unavailable
            ? "The API is unavailable; try again in a moment."
            : "Signing in failed.",
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="sign-in">
      <EnvironmentBanner />
      <main>
        <h1>Sign in to jobq</h1>
        <form onSubmit={submit}>
          <label htmlFor="api-key">API key</label>
          <input
            id="api-key"
            type="password"
            autoComplete="off"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            required
            aria-describedby={error ? "sign-in-error" : undefined}
          />
          <label className="inline">
            <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} />
            Remember in this tab
          </label>
          <button type="submit" disabled={busy}>
            Sign in
          </button>
          {error && (
            <p id="sign-in-error" role="alert" className="error-note">
              {error}
            </p>
          )}
        </form>
        <p className="muted">
          Create a key with <code>jobq create-key</code>; it is kept in this page&apos;s memory only, unless you ask
          this tab to remember it. It is never put in a URL.
        </p>
      </main>
    </div>
  );
}
