import type { AccessEntry, HostSummary, SessionSummary } from "../../db/store.ts";
import type { bySilence } from "../../routes/hosts.ts";
import type { Viewer } from "../session.ts";
import { Layout, Time } from "./layout.tsx";

export function HostsPage(props: { viewer: Viewer; hosts: ReturnType<typeof bySilence> }) {
  return (
    <Layout title="Hosts" viewer={props.viewer} active="hosts">
      <h1>Hosts <span class="muted">({props.hosts.length}, the most silent first)</span></h1>
      <table class="hosts">
        <thead><tr><th>Host</th><th>State</th><th>Last stored</th><th>Silent for</th><th>Last record</th><th>Records</th><th>Losses</th><th>Rejected</th><th>Reporter</th><th>Ingest auth</th><th>Addresses</th></tr></thead>
        <tbody>
          {props.hosts.map((h) => (
            <tr tabindex={0} data-href={`/hosts/${encodeURIComponent(h.hostname)}`} class={`state-${h.state}`}>
              <td><a href={`/hosts/${encodeURIComponent(h.hostname)}`}>{h.hostname}</a></td>
              <td><span class={`state state-${h.state}`}>{h.state}</span></td>
              <td><Time tsUs={h.lastStoredUs} utcOffset={null} /></td>
              <td>{h.silentSeconds === null ? "—" : duration(h.silentSeconds)}</td>
              <td><Time tsUs={h.lastSeenUs} utcOffset={null} /></td>
              <td class="num">{h.records.toLocaleString("en")}</td>
              <td class={`num${h.losses ? " bad-exit" : ""}`}>{h.losses ? <a href={`/?host=${encodeURIComponent(h.hostname)}&kind=loss`}>{h.losses.toLocaleString("en")}</a> : "0"}</td>
              <td class={`num${h.rejected ? " bad-exit" : ""}`}>{h.rejected.toLocaleString("en")}</td>
              <td>{h.reporter ?? "—"}</td>
              <td>{h.ingestAuth ?? "—"}</td>
              <td class="muted">{h.serverIps}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}

export function duration(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

export function HostPage(props: { viewer: Viewer; host: HostSummary; sessions: SessionSummary[]; next: string | undefined }) {
  const h = props.host;
  return (
    <Layout title={h.hostname} viewer={props.viewer} active="hosts">
      <h1>{h.hostname}</h1>
      <p class="muted">{h.records.toLocaleString("en")} records · {h.losses.toLocaleString("en")} loss records · {h.rejected.toLocaleString("en")} rejected · reporter {h.reporter ?? "unknown"} · last stored <Time tsUs={h.lastStoredUs} utcOffset={null} /> · <a href={`/?host=${encodeURIComponent(h.hostname)}`}>search this host</a> · <a href={`/?host=${encodeURIComponent(h.hostname)}&kind=loss`}>its loss records</a></p>
      <table class="sessions">
        <thead><tr><th>Session</th><th>Users</th><th>First</th><th>Last</th><th>Records</th><th>Missing</th><th>Start</th><th>End</th><th>Conflicts</th><th>Writers</th></tr></thead>
        <tbody>
          {props.sessions.map((s) => {
            const missing = s.lastSeq - s.firstSeq + 1 - s.seqs + (s.firstSeq > 1 ? s.firstSeq - 1 : 0);
            const link = `/sessions/${encodeURIComponent(s.sessionId)}?host=${encodeURIComponent(h.hostname)}`;
            const trouble = missing > 0 || !s.ended || s.conflicts > 0 || s.attestedUsers.length > 1;
            return (
              <tr tabindex={0} data-href={link} class={trouble ? "flagged" : undefined}>
                <td><a href={link}>{s.sessionId}</a></td>
                <td>{s.lusers.join(", ")}{s.susers.join(",") !== s.lusers.join(",") && <> → {s.susers.join(", ")}</>}</td>
                <td class="nowrap"><Time tsUs={s.firstTsUs} utcOffset={null} /></td>
                <td class="nowrap"><Time tsUs={s.lastTsUs} utcOffset={null} /></td>
                <td class="num">{s.records}</td>
                <td class={missing ? "bad-exit" : undefined}>{missing || ""}</td>
                <td>{s.started ? "✓" : <span class="bad-exit">none</span>}</td>
                <td>{s.ended ? "✓" : <span class="bad-exit">none</span>}</td>
                <td class={s.conflicts ? "bad-exit" : undefined}>{s.conflicts || ""}</td>
                <td class={s.attestedUsers.length > 1 ? "bad-exit" : undefined}>{s.attestedUsers.join(", ")}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {props.sessions.length === 0 && <p class="muted">No sessions.</p>}
      {props.next && <p class="more"><a href={`/hosts/${encodeURIComponent(h.hostname)}?cursor=${props.next}`} rel="next">Older sessions →</a></p>}
    </Layout>
  );
}

export function AccessPage(props: { viewer: Viewer; entries: (AccessEntry & { id: number })[]; next: number | undefined }) {
  return (
    <Layout title="Access log" viewer={props.viewer} active="access">
      <h1>Access log <span class="muted">(every view of audit data, every sign-in)</span></h1>
      <table class="access">
        <thead><tr><th>Time</th><th>User</th><th>Action</th><th>What</th><th>From</th></tr></thead>
        <tbody>
          {props.entries.map((e) => (
            <tr><td class="nowrap"><Time tsUs={e.tsUs} utcOffset={null} /></td><td>{e.userName}</td><td>{e.action}</td><td class="cmd">{e.detail}</td><td>{e.clientIp}</td></tr>
          ))}
        </tbody>
      </table>
      {props.next !== undefined && <p class="more"><a href={`/access?before=${props.next}`} rel="next">Older →</a></p>}
    </Layout>
  );
}

export function LoginPage(props: { next: string; error?: string; csrf: string }) {
  return (
    <Layout title="Sign in">
      <form method="post" action="/login" class="login">
        <h1>Sign in</h1>
        {props.error && <p class="error" role="alert">{props.error}</p>}
        <input type="hidden" name="next" value={props.next} />
        <input type="hidden" name="_csrf" value={props.csrf} />
        <label>User<input name="user" autocomplete="username" required autofocus /></label>
        <label>Password<input name="password" type="password" autocomplete="current-password" required /></label>
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}
