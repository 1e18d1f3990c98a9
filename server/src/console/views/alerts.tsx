import { formatCommandTime, SEVERITY_NAMES } from "../../../../protocol/index.ts";
import type { StoredAlert } from "../../db/store.ts";
import { type AlertSearchForm, RANGES } from "../query.ts";
import type { Viewer } from "../session.ts";
import { CommandText, Layout, Time } from "./layout.tsx";
import { sessionLink } from "./search.tsx";

export function Severity(props: { severity: string }) {
  return <span class={`sev sev-${props.severity}`}>{props.severity}</span>;
}

/**
 * Where an alert's record is: its place in the transcript; for a record without a session (the
 * 2018 backend's) a search of its host at its time; for a silent host (no command) the host's page.
 */
export function alertLink(a: StoredAlert): string {
  const host = encodeURIComponent(a.hostname);
  if (a.command === "") return `/hosts/${host}`;
  const inSession = sessionLink(a);
  if (inSession) return inSession;
  if (a.recordTsUs <= 0) return `/?host=${host}`;
  const at = (us: number) => encodeURIComponent(formatCommandTime(us, null));
  return `/?host=${host}&from=${at(a.recordTsUs)}&to=${at(a.recordTsUs + 1)}`;
}

export function AlertsPage(props: { viewer: Viewer; form: AlertSearchForm; rows: StoredAlert[]; before: number | undefined; ruleIds: string[]; error?: string }) {
  const f = props.form.values;
  const qs = props.form.queryString;
  return (
    <Layout title="Alerts" viewer={props.viewer} active="alerts">
      <h1>Alerts <span class="muted">(newest first)</span></h1>
      <form method="get" action="/alerts" class="search" role="search">
        <label>Host<input name="host" value={f.host ?? ""} size={16} autocomplete="off" /></label>
        <label>Rule<input name="rule" value={f.rule ?? ""} size={24} list="rule-ids" autocomplete="off" /></label>
        <datalist id="rule-ids">{props.ruleIds.map((id) => <option value={id} />)}</datalist>
        <label>Severity<select name="severity">{["", ...SEVERITY_NAMES].map((s) => <option value={s} selected={(f.severity ?? "") === s}>{s || "any"}</option>)}</select></label>
        <label>Raised<select name="range">{RANGES.map(([v, l]) => <option value={v} selected={props.form.range === v}>{l}</option>)}</select></label>
        <label>From (ISO, with offset)<input name="from" value={f.from ?? ""} size={22} autocomplete="off" /></label>
        <label>To (ISO, with offset)<input name="to" value={f.to ?? ""} size={22} autocomplete="off" /></label>
        <button type="submit">Filter</button>
      </form>
      {props.error ? <p class="error" role="alert">{props.error}</p> : (
        <>
          <table class="records alerts" id="alerts">
            <thead><tr><th>Raised</th><th>Severity</th><th>Rule</th><th>Host</th><th>User</th><th>Command</th></tr></thead>
            <tbody>
              {props.rows.map((a) => {
                const link = alertLink(a);
                return (
                  <tr tabindex={0} data-href={link} id={`alert-${a.id}`}>
                    <td class="nowrap"><Time tsUs={a.raisedUs} utcOffset={null} /></td>
                    <td><Severity severity={a.severity} /></td>
                    <td><a href={`/rules#rule-${encodeURIComponent(a.ruleId)}`}>{a.ruleId}</a></td>
                    <td><a href={`/hosts/${encodeURIComponent(a.hostname)}`}>{a.hostname}</a></td>
                    <td class="nowrap">{a.luser === a.suser || !a.suser ? a.luser : <>{a.luser}→{a.suser}</>}</td>
                    <td class="cmd">
                      {a.command === "" ? <a href={link}>the host fell silent</a> : <a href={link}><CommandText text={a.command} raw={false} /></a>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {props.rows.length === 0 && <p class="muted">No alerts match.</p>}
          {props.before !== undefined && <p class="more"><a href={`/alerts?${qs ? `${qs}&` : ""}before=${props.before}`} rel="next" id="next-page">Older alerts →</a></p>}
        </>
      )}
    </Layout>
  );
}
