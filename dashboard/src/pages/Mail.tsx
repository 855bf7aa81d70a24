// Mail `jobq run` caught: what the workers' email.send jobs sent, as a recipient would see
// it. The page exists only where the server says it catches mail (config.localMail).
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";

import { api, call, type Schemas } from "../api/client";
import { ErrorNote, Time } from "../ui/parts";
import { useLiveOptions } from "../ui/preferences";

type Mail = Schemas["CaughtMailOut"];
// No event announces mail: look every few seconds while the page is open.
const MAIL_POLL_MS = 5_000;

function Message({ mail }: { mail: Mail }) {
  return (
    <article className="mail" aria-labelledby={`mail-${mail.id}`}>
      <h2 id={`mail-${mail.id}`}>{mail.subject ?? "(no subject)"}</h2>
      <dl className="envelope">
        <dt>From</dt>
        <dd>{mail.sender}</dd>
        <dt>To</dt>
        <dd>{mail.recipients.join(", ")}</dd>
        <dt>Received</dt>
        <dd>
          <Time value={mail.received_at} />
        </dd>
        <dt>Message-ID</dt>
        <dd className="mono">{mail.message_id ?? "—"}</dd>
      </dl>
      {mail.text !== null && (
        <section aria-label="Text body">
          <h3>Text</h3>
          <pre className="body">{mail.text}</pre>
        </section>
      )}
      {mail.html !== null && (
        <section aria-label="HTML body">
          <h3>HTML</h3>
          {/* No scripts, no forms, an origin of its own; the page's CSP still applies, so
              nothing outside this server is fetched (no tracking pixel leaves the machine). */}
          <iframe title={`HTML body of ${mail.subject ?? "the message"}`} sandbox="" srcDoc={mail.html} className="html-body" />
          <details>
            <summary>HTML source</summary>
            <pre className="body">{mail.html}</pre>
          </details>
        </section>
      )}
      <details>
        <summary>All headers ({mail.headers.length})</summary>
        <table className="list">
          <tbody>
            {mail.headers.map((h, k) => (
              <tr key={`${h.name}-${k}`}>
                <th scope="row" className="mono">
                  {h.name}
                </th>
                <td className="mono">{h.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </article>
  );
}

export function MailPage() {
  const [open, setOpen] = useState<string | null>(null);
  const mail = useQuery({
    queryKey: ["local-mail"],
    queryFn: () => call(api.GET("/v1/local/mail", { params: { query: { limit: 100 } } })),
    ...useLiveOptions(MAIL_POLL_MS, false),
  });
  const messages = mail.data?.messages ?? [];
  const shown = messages.find((m) => m.id === open) ?? messages[0];
  return (
    <section aria-labelledby="mail-title">
      <h1 id="mail-title">Caught mail</h1>
      <p className="muted">
        <code>jobq run</code> catches what the workers send (no mail leaves this machine). The files are under{" "}
        <code>.jobq/mail/</code>.
      </p>
      <ErrorNote error={mail.error} />
      {mail.isSuccess && messages.length === 0 && <p className="muted">No mail caught yet: submit an email.send job.</p>}
      {messages.length > 0 && (
        <div className="mailbox">
          <table className="list">
            <caption>
              {mail.data?.total} message(s){mail.data && mail.data.total > messages.length ? `, the newest ${messages.length}` : ""}
            </caption>
            <thead>
              <tr>
                <th scope="col">Subject</th>
                <th scope="col">To</th>
                <th scope="col">Received</th>
              </tr>
            </thead>
            <tbody>
              {messages.map((m) => (
                <tr key={m.id} aria-selected={m.id === shown?.id}>
                  <th scope="row">
                    <button type="button" className="link" onClick={() => setOpen(m.id)} aria-pressed={m.id === shown?.id}>
                      {m.subject ?? "(no subject)"}
                    </button>
                  </th>
                  <td>{m.recipients.join(", ")}</td>
                  <td>
                    <Time value={m.received_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown && <Message key={shown.id} mail={shown} />}
        </div>
      )}
    </section>
  );
}
