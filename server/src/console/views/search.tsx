import { RECORD_KINDS } from "../../../../protocol/index.ts";
import type { StoredRecord } from "../../db/store.ts";
import { RANGES, type SearchForm } from "../query.ts";
import type { Viewer } from "../session.ts";
import { CommandText, Flags, Layout, Time } from "./layout.tsx";

const KINDS = ["", ...RECORD_KINDS] as const;

/** Command text with each occurrence of the searched text marked. */
function Highlighted(props: { text: string; q: string | undefined; raw: boolean }) {
  if (!props.q) return <CommandText text={props.text} raw={props.raw} />;
  const parts = props.text.split(props.q);
  return <>{parts.map((p, i) => <>{i > 0 && <mark class="hit">{<CommandText text={props.q!} raw={props.raw} />}</mark>}<CommandText text={p} raw={props.raw} /></>)}</>;
}

export function sessionLink(r: Pick<StoredRecord, "sessionId" | "hostname" | "seq">): string | undefined {
  if (!r.sessionId) return undefined;
  return `/sessions/${encodeURIComponent(r.sessionId)}?host=${encodeURIComponent(r.hostname)}${r.seq !== null ? `#seq-${r.seq}` : ""}`;
}

export function SearchPage(props: { viewer: Viewer; form: SearchForm; rows: StoredRecord[]; next: string | undefined; error?: string }) {
  const f = props.form.values;
  const input = (name: keyof typeof f, label: string, size = 12) => (
    <label>{label}<input name={name} value={f[name] ?? ""} size={size} autocomplete="off" /></label>
  );
  const qs = props.form.queryString;
  return (
    <Layout title="Search" viewer={props.viewer} active="search">
      <form method="get" action="/" class="search" role="search">
        <label class="wide">Command contains<input name="q" value={f.q ?? ""} id="q" autofocus placeholder="text in the command (exact, case-sensitive) — press / to come here" /></label>
        {input("host", "Host")}
        {input("luser", "Login user", 10)}
        {input("suser", "Effective user", 10)}
        {input("clientIp", "Client IP", 14)}
        {input("session", "Session", 14)}
        <label>Kind<select name="kind">{KINDS.map((k) => <option value={k} selected={(f.kind ?? "") === k}>{k || "any"}</option>)}</select></label>
        {input("exitStatus", "Exit status", 4)}
        <label>Flagged<select name="flagged">{[["", "any"], ["true", "flagged only"], ["false", "unflagged only"]].map(([v, l]) => <option value={v} selected={(f.flagged ?? "") === v}>{l}</option>)}</select></label>
        <label>Range<select name="range">{RANGES.map(([v, l]) => <option value={v} selected={props.form.range === v}>{l}</option>)}</select></label>
        {input("from", "From (ISO, with offset)", 22)}
        {input("to", "To (ISO, with offset)", 22)}
        <button type="submit">Search</button>
      </form>
      {props.error ? <p class="error" role="alert">{props.error}</p> : (
        <>
          <p class="export">
            Export exactly this query, every match: <a href={`/export?format=ndjson${qs ? `&${qs}` : ""}`} download>NDJSON</a> · <a href={`/export?format=csv${qs ? `&${qs}` : ""}`} download>CSV</a>
          </p>
          <table class="records" id="results">
            <thead><tr><th>Time</th><th>Host</th><th>User</th><th>Client</th><th>Cwd</th><th>Command</th><th>Exit</th><th>ms</th></tr></thead>
            <tbody>
              {props.rows.map((r) => {
                const link = sessionLink(r);
                return (
                  <tr tabindex={0} data-href={link} class={r.flags.length ? "flagged" : undefined}>
                    <td class="nowrap"><Time tsUs={r.tsUs} utcOffset={r.utcOffset} /></td>
                    <td>{r.hostname}</td>
                    <td class="nowrap">{r.luser === r.suser ? r.luser : <>{r.luser}→{r.suser}</>}{r.attestation === "kernel" && <span class="att" title={`attested by the kernel: ${r.attestedUser ?? "?"}`}>✓</span>}</td>
                    <td>{r.clientIp}</td>
                    <td class="cwd">{r.cwd ?? ""}</td>
                    <td class="cmd">
                      {r.kind !== "command" && <span class={`kind kind-${r.kind}`}>{r.kind}</span>}
                      {link ? <a href={link}><Highlighted text={r.command} q={f.q} raw={!!r.commandRaw} /></a> : <Highlighted text={r.command} q={f.q} raw={!!r.commandRaw} />}
                      <Flags flags={r.flags} />
                    </td>
                    <td class={r.exitStatus ? "bad-exit" : undefined}>{r.exitStatus ?? ""}</td>
                    <td>{r.durationMs ?? ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {props.rows.length === 0 && <p class="muted">No records match.</p>}
          {props.next && <p class="more"><a href={`/?${qs ? `${qs}&` : ""}cursor=${props.next}`} rel="next" id="next-page">Older records →</a></p>}
        </>
      )}
    </Layout>
  );
}
