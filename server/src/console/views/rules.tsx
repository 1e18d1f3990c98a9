import { stringify } from "yaml";
import type { BacktestResult } from "../../alerts/backtest.ts";
import type { RuleEntry } from "../../alerts/rulebook.ts";
import { RANGES, type Range } from "../query.ts";
import type { Viewer } from "../session.ts";
import { Severity } from "./alerts.tsx";
import { CommandText, Flags, Layout, Time } from "./layout.tsx";
import { sessionLink } from "./search.tsx";

/** What the backtest form was given, to show it back. */
export interface BacktestForm {
  rule: string;
  existing: string;
  host: string;
  range: Range;
}
export const emptyBacktest = (): BacktestForm => ({ rule: "", existing: "", host: "", range: "all" });

export interface RulesPageProps {
  viewer: Viewer;
  rules: RuleEntry[];
  /** Every built-in id, those turned off too: a backtest is how one decides to turn one on. */
  builtinIds: string[];
  /** The add/replace form's text and its error (admins). */
  edit?: { text: string; error?: string };
  backtest?: { form: BacktestForm; result?: BacktestResult; error?: string };
}

function RuleRow(props: { e: RuleEntry; admin: boolean; csrf: string }) {
  const { e } = props;
  const id = e.rule.id;
  return (
    <tr id={`rule-${id}`}>
      <td class="nowrap"><code>{id}</code></td>
      <td>{e.source}{e.updatedUs !== undefined && <div class="muted"><Time tsUs={e.updatedUs} utcOffset={null} /></div>}</td>
      <td><Severity severity={e.rule.severity} /></td>
      <td>{e.rule.description}</td>
      <td>{(e.config?.enabled ?? true) ? "yes" : <span class="bad-exit">no</span>}</td>
      <td>{e.config ? <pre class="def">{stringify(e.config)}</pre> : <span class="muted">built in (code)</span>}</td>
      {props.admin && (
        <td class="nowrap">
          {e.source === "api" && (
            <>
              <a href={`/rules?edit=${encodeURIComponent(id)}#rule-form`}>Edit</a>{" "}
              <form method="post" action="/rules/delete" class="inline">
                <input type="hidden" name="_csrf" value={props.csrf} />
                <input type="hidden" name="id" value={id} />
                <button type="submit" class="link danger">Delete</button>
              </form>
            </>
          )}
        </td>
      )}
    </tr>
  );
}

function RuleForm(props: { csrf: string; text: string; error?: string }) {
  return (
    <section id="rule-form">
      <h2>Add or replace a rule</h2>
      <p class="muted">A rule as in the config's <code>alerts.rules</code>, in YAML or JSON; a rule of the same id added here is replaced. In force on every server of this database within 10 s.</p>
      {props.error && <p class="error" role="alert" id="rule-error">{props.error}</p>}
      <form method="post" action="/rules" class="panel">
        <input type="hidden" name="_csrf" value={props.csrf} />
        <label class="wide">Rule<textarea name="rule" rows={10} spellcheck={false} placeholder={"id: sudo-shadow\nseverity: critical\ndescription: Reads the shadow file\nregex: /etc/shadow"}>{props.text}</textarea></label>
        <button type="submit">Save rule</button>
      </form>
    </section>
  );
}

function BacktestSection(props: { viewer: Viewer; choices: string[]; form: BacktestForm; result?: BacktestResult; error?: string }) {
  const f = props.form;
  const r = props.result;
  return (
    <section id="backtest">
      <h2>Backtest</h2>
      <p class="muted">Runs a rule over stored records, newest first (at most 1,000,000 records and 30 s){props.viewer.user.role === "admin" ? "" : ", of the hosts you may see only"}. A rule typed here wins over one chosen.</p>
      <form method="post" action="/rules/backtest#backtest" class="panel">
        <input type="hidden" name="_csrf" value={props.viewer.csrf} />
        <label class="wide">Rule (YAML or JSON)<textarea name="rule" rows={6} spellcheck={false}>{f.rule}</textarea></label>
        <label>Or a rule in force or built in<select name="existing">{["", ...props.choices].map((id) => <option value={id} selected={f.existing === id}>{id || "—"}</option>)}</select></label>
        <label>Host<input name="host" value={f.host} size={16} autocomplete="off" /></label>
        <label>Range<select name="range">{RANGES.map(([v, l]) => <option value={v} selected={f.range === v}>{l}</option>)}</select></label>
        <button type="submit">Run</button>
      </form>
      {props.error && <p class="error" role="alert" id="backtest-error">{props.error}</p>}
      {r && (
        <div id="backtest-result">
          <p>
            Scanned <strong class="scanned">{r.scanned.toLocaleString("en")}</strong> records, matched <strong class="matched">{r.matched.toLocaleString("en")}</strong>;{" "}
            {r.complete ? <span class="complete">complete</span> : <span class="bad-exit stopped">{r.stopped ?? "incomplete"}</span>}
          </p>
          {r.days.length > 0 && (
            <table class="days">
              <thead><tr><th>Day (UTC)</th><th>Matches</th></tr></thead>
              <tbody>{r.days.map((d) => <tr><td>{d.day}</td><td class="num">{d.matches.toLocaleString("en")}</td></tr>)}</tbody>
            </table>
          )}
          {r.examples.length > 0 && (
            <table class="records examples">
              <thead><tr><th>Time</th><th>Host</th><th>User</th><th>Command</th></tr></thead>
              <tbody>
                {r.examples.map((x) => {
                  const link = sessionLink(x);
                  return (
                    <tr tabindex={0} data-href={link}>
                      <td class="nowrap"><Time tsUs={x.tsUs} utcOffset={x.utcOffset} /></td>
                      <td>{x.hostname}</td>
                      <td class="nowrap">{x.luser === x.suser ? x.luser : <>{x.luser}→{x.suser}</>}</td>
                      <td class="cmd">{link ? <a href={link}><CommandText text={x.command} raw={!!x.commandRaw} /></a> : <CommandText text={x.command} raw={!!x.commandRaw} />}<Flags flags={x.flags} /></td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}

export function RulesPage(props: RulesPageProps) {
  const v = props.viewer;
  const admin = v.user.role === "admin";
  const choices = [...new Set([...props.builtinIds, ...props.rules.filter((e) => e.source !== "builtin").map((e) => e.rule.id)])];
  return (
    <Layout title="Rules" viewer={v} active="rules">
      <h1>Alert rules <span class="muted">({props.rules.length}: built in, from the config, added here or through the API)</span></h1>
      <table class="rules">
        <thead><tr><th>Id</th><th>Source</th><th>Severity</th><th>Description</th><th>Enabled</th><th>Definition</th>{admin && <th></th>}</tr></thead>
        <tbody>{props.rules.map((e) => <RuleRow e={e} admin={admin} csrf={v.csrf} />)}</tbody>
      </table>
      {admin && <RuleForm csrf={v.csrf} text={props.edit?.text ?? ""} error={props.edit?.error} />}
      <BacktestSection viewer={v} choices={choices} form={props.backtest?.form ?? emptyBacktest()} result={props.backtest?.result} error={props.backtest?.error} />
    </Layout>
  );
}
