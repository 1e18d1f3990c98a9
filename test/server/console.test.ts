/**
 * The console's pages through app.request() on a real SQLite store: signing in (CSRF, wrong
 * passwords, throttling), what each page shows, host groups, the access log, and command text
 * that is an attack on the viewer's browser rendered as text.
 */
import { expect, test } from "bun:test";
import type { Config } from "../../server/src/config.ts";
import { cat, enc, type IngestAnswer, json, RouteSuite, type TestApp } from "./helpers.ts";

const suite = new RouteSuite();
const PASSWORD = "correct horse battery";

/** A browser's cookie jar, enough for one origin. */
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
  async signIn(user: string, password = PASSWORD, next = "/"): Promise<Response> {
    const page = await (await this.go(`/login?next=${encodeURIComponent(next)}`)).text();
    return this.post("/login", { user, password, next, _csrf: csrfIn(page) });
  }
}

const csrfIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

async function withUsers(over: Partial<Config> = {}): Promise<TestApp> {
  const t = await suite.newApp({ console: { session_hours: 12, host_groups: { web: ["web-*"] } }, ...over });
  const hash = await Bun.password.hash(PASSWORD);
  await t.store.putConsoleUser({ name: "ada", passwordHash: hash, role: "admin", hostGroups: [], createdUs: 1 });
  await t.store.putConsoleUser({ name: "rita", passwordHash: hash, role: "reader", hostGroups: ["web"], createdUs: 1 });
  return t;
}

const h = (over: Parameters<typeof suite.hook>[0]) => enc(suite.hook(over));

test("every page needs a signed-in person: a read token is not one; without a session, to the sign-in page and back", async () => {
  const t = await withUsers();
  for (const path of ["/", "/hosts", "/hosts/web-1", "/sessions/x", "/export?format=csv", "/access"]) {
    const res = await t.get(path); // the read token, as a header: not a console session
    expect([path, res.status, res.headers.get("location")]).toEqual([path, 303, `/login?next=${encodeURIComponent(path)}`]);
  }
  const b = new Browser(t);
  const res = await b.signIn("ada", PASSWORD, "/hosts");
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/hosts");
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("cmdaudit="))!;
  expect(cookie).toMatch(/HttpOnly/i);
  expect(cookie).toMatch(/SameSite=Strict/i);
  expect((await b.go("/hosts")).status).toBe(200);
  // A next that leaves the server is not followed.
  for (const next of ["//evil.example/", "https://evil.example/", "/\\evil.example"]) {
    expect((await new Browser(t).signIn("ada", PASSWORD, next)).headers.get("location")).toBe("/");
  }
});

test("signing in: a wrong password or user is refused alike; a post without the form's token is refused; 10 failures throttle that name", async () => {
  const t = await withUsers();
  const b = new Browser(t);
  expect((await b.signIn("ada", "wrong password!")).status).toBe(401);
  expect((await b.signIn("nobody", PASSWORD)).status).toBe(401);
  expect(b.cookies.has("cmdaudit")).toBe(false);
  await b.go("/login");
  expect((await b.post("/login", { user: "ada", password: PASSWORD, _csrf: "guessed" })).status).toBe(400);
  const c = new Browser(t);
  for (let i = 0; i < 10; i++) expect((await c.signIn("rita", "nope nope nope")).status).toBe(401);
  expect((await c.signIn("rita", PASSWORD)).status).toBe(429); // even the right password, until the window passes
  expect((await new Browser(t).signIn("ada")).status).toBe(303); // another name is not throttled
  const log = await t.store.accessLog(100);
  expect(log.filter((e) => e.action === "login-failed").length).toBe(12);
  expect(log.filter((e) => e.action === "login-throttled").map((e) => e.userName)).toEqual(["rita"]);
});

test("signing out ends the session on the server: the old cookie no longer works; a sign-out without the CSRF token is refused", async () => {
  const t = await withUsers();
  const b = new Browser(t);
  await b.signIn("ada");
  const page = await (await b.go("/")).text();
  const stolen = b.cookies.get("cmdaudit")!;
  expect((await b.post("/logout", { _csrf: "x" })).status).toBe(403);
  expect((await b.go("/")).status).toBe(200);
  expect((await b.post("/logout", { _csrf: csrfIn(page) })).status).toBe(303);
  const replay = await t.app.request("/", { headers: { Cookie: `cmdaudit=${stolen}` } });
  expect(replay.status).toBe(303);
  // A form posted from another origin is refused before it is read.
  const x = await t.app.request("/login", { method: "POST", headers: { Origin: "https://evil.example" }, body: new URLSearchParams({ user: "ada" }) });
  expect(x.status).toBe(403);
  // A form body past any form's size is refused unread.
  const big = await t.app.request("/login", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": String(17 * 1024) }, body: "user=" + "a".repeat(17 * 1024 - 5) });
  expect(big.status).toBe(413);
});

test("search: filters, the match marked, command text that attacks the browser shown as text; security headers; every search in the access log", async () => {
  const t = await withUsers();
  const payloads = [
    `echo "<script>alert(1)</script>"`, `<img src=x onerror=alert(2)>`, `"><svg onload=alert(3)>`, `</td></tr></table><iframe src=javascript:alert(4)>`,
  ];
  const body = cat(...payloads.map((command, i) => h({ hostname: "web-1", sessionId: "s1", seq: i + 2, command, ctime: `2024-03-01T12:00:0${i}+08:00` })),
    h({ hostname: "db-1", sessionId: "s2", seq: 2, command: "mysql -e 'select 1'", ctime: "2024-03-01T12:01:00+08:00" }));
  expect((await json<IngestAnswer>(await t.postRaw(body))).accepted).toBe(5);
  const b = new Browser(t);
  await b.signIn("ada");
  const res = await b.go("/?q=alert");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
  expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  const html = await res.text();
  // The only script is the console's own file; no payload survives as markup.
  expect(html.match(/<script[^>]*>/g)).toEqual(['<script src="/assets/console.js" defer="">']);
  for (const bad of ["<img", "<svg", "<iframe", "onerror=", "onload="].map((s) => new RegExp(s.replace("=", "\\s*="), "i"))) {
    expect(html.replace(/&lt;[^&]*/g, "")).not.toMatch(bad);
  }
  expect(html).toContain("&lt;script&gt;");
  expect((html.match(/<mark class="hit">alert<\/mark>/g) ?? []).length).toBe(4);
  expect(html).toContain('href="/sessions/s1?host=web-1#seq-2"');
  expect(html).not.toContain("mysql -e");
  // A wrong filter names itself.
  const bad = await b.go("/?from=yesterday");
  expect(bad.status).toBe(400);
  expect(await bad.text()).toContain("from:");
  const log = (await t.store.accessLog(100)).filter((e) => e.action === "search").map((e) => e.detail);
  expect(log).toEqual(["q=alert"]); // a query refused is not a view of audit data
});

test("a reader sees only the hosts of their groups: in search, export, hosts, a host page and a session", async () => {
  const t = await withUsers();
  const body = cat(h({ hostname: "web-1", sessionId: "w", seq: 2, command: "echo web" }), h({ hostname: "db-1", sessionId: "d", seq: 2, command: "echo db" }));
  expect((await json<IngestAnswer>(await t.postRaw(body))).accepted).toBe(2);
  const b = new Browser(t);
  await b.signIn("rita");
  const search = await (await b.go("/")).text();
  expect(search).toContain("echo web");
  expect(search).not.toContain("echo db");
  const ndjson = (await (await b.go("/export?format=ndjson")).text()).trim().split("\n").map((l) => JSON.parse(l) as { hostname: string });
  expect(ndjson.map((r) => r.hostname)).toEqual(["web-1"]);
  const hosts = await (await b.go("/hosts")).text();
  expect(hosts).toContain("web-1");
  expect(hosts).not.toContain("db-1");
  expect((await b.go("/hosts/db-1")).status).toBe(404);
  expect((await b.go("/sessions/d?host=db-1")).status).toBe(404);
  expect((await b.go("/sessions/d")).status).toBe(404);
  expect((await b.go("/access")).status).toBe(403);
  const a = new Browser(t);
  await a.signIn("ada");
  expect(await (await a.go("/")).text()).toContain("echo db");
  const access = await (await a.go("/access")).text();
  for (const action of ["search", "export-ndjson", "hosts", "login"]) expect(access).toContain(`<td>${action}</td>`);
});

test("a transcript: in seq order, a gap, a loss record, a conflict, a multi-line command, no end; each command has its anchor", async () => {
  const t = await withUsers();
  const r = (seq: number, over: Parameters<typeof suite.hook>[0] = {}) => h({ hostname: "web-1", sessionId: "tr", seq, ctime: `2024-03-01T12:00:${String(seq).padStart(2, "0")}+08:00`, ...over });
  const body = cat(
    r(1, { kind: "session_start", command: "" }), r(2, { command: "for i in 1 2\ndo echo $i\ndone" }), r(5, { command: "echo after the gap" }),
    r(6, { kind: "loss", command: "cmdaudit hook: 2 record(s) could not be written to the log" }),
    r(7, { command: "true # forged" }), r(7, { command: "rm -rf /tmp/evidence" }),
  );
  expect((await json<IngestAnswer>(await t.postRaw(body))).accepted).toBe(6);
  const b = new Browser(t);
  await b.signIn("ada");
  const res = await b.go("/sessions/tr?host=web-1");
  expect(res.status).toBe(200);
  // A streamed page carries the same headers as the others.
  expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
  expect(res.headers.get("cache-control")).toBe("no-store");
  const html = await res.text();
  const order = ["session start", "for i in 1 2\ndo echo $i\ndone", "seqs 3–4 never arrived (2 records missing)", "echo after the gap", "2 record(s) could not be written", "true # forged", "rm -rf /tmp/evidence", "no session end"];
  const at = order.map((s) => html.indexOf(s));
  expect(at.every((i) => i > 0)).toBe(true);
  expect([...at].sort((x, y) => x - y)).toEqual(at);
  for (const id of ["seq-1", "seq-2", "seq-5", "seq-6", "seq-7"]) expect(html).toContain(`id="${id}"`);
  expect((html.match(/flag-conflict/g) ?? []).length).toBe(2);
  expect(html.trimEnd().endsWith("</html>")).toBe(true);
  // Without ?host=, the session id finds its host.
  expect((await b.go("/sessions/tr")).status).toBe(200);
  expect((await b.go("/sessions/none")).status).toBe(404);
});

test("the assets are served by the server itself", async () => {
  const t = await withUsers();
  const css = await t.app.request("/assets/console.css");
  expect(css.headers.get("content-type")).toContain("text/css");
  expect(await css.text()).toContain("prefers-color-scheme: dark");
  const js = await t.app.request("/assets/console.js");
  expect(js.headers.get("content-type")).toContain("javascript");
  expect(await js.text()).toContain("cmdaudit-tz");
});

test("a long transcript: the page holds the first 100 records, /more the next 500 with the gap across the boundary, then the end; all=1 holds everything; each page read is logged", async () => {
  const t = await withUsers();
  const seqs = [...Array.from({ length: 100 }, (_, i) => i + 1), ...Array.from({ length: 600 }, (_, i) => i + 103)]; // 101-102 never arrive
  const recs = seqs.map((seq) => h({ hostname: "web-1", sessionId: "long", seq, command: `echo ${seq}`, ctime: `2024-03-01T12:${String(Math.floor(seq / 60) % 60).padStart(2, "0")}:${String(seq % 60).padStart(2, "0")}+08:00` }));
  for (let i = 0; i < recs.length; i += 300) expect((await json<IngestAnswer>(await t.postRaw(cat(...recs.slice(i, i + 300))))).accepted).toBe(Math.min(300, recs.length - i));
  const b = new Browser(t);
  await b.signIn("ada");
  const page = await (await b.go("/sessions/long?host=web-1")).text();
  const ids = (html: string) => [...html.matchAll(/id="seq-(\d+)"/g)].map((m) => Number(m[1]));
  expect(ids(page)).toEqual(seqs.slice(0, 100));
  expect(page).not.toContain("never arrived");
  expect(page).not.toContain("transcript-done");
  expect(page).toContain("/sessions/long?host=web-1&amp;all=1"); // without script: the whole session
  const next = (html: string) => /data-next="([^"]+)"/.exec(html)?.[1]?.replaceAll("&amp;", "&");
  const more1 = await (await b.go(next(page)!)).text();
  expect(ids(more1)).toEqual(seqs.slice(100, 600));
  expect(more1.indexOf("seqs 101–102 never arrived (2 records missing)")).toBeLessThan(more1.indexOf('id="seq-103"'));
  const more2 = await (await b.go(next(more1)!)).text();
  expect(ids(more2)).toEqual(seqs.slice(600));
  expect(more2).toContain("no session end");
  expect(more2).toContain('id="transcript-done"');
  expect(next(more2)).toBeUndefined();
  const whole = await (await b.go("/sessions/long?host=web-1&all=1")).text();
  expect(ids(whole)).toEqual(seqs);
  expect((whole.match(/never arrived/g) ?? []).length).toBe(1);
  expect(whole.trimEnd().endsWith("</html>")).toBe(true);
  // A page asked for with a made-up position or state is refused; a reader of other hosts gets nothing.
  expect((await b.go("/sessions/long/more?host=web-1&after=x&state=-.0.0.0")).status).toBe(400);
  expect((await b.go("/sessions/long/more?host=web-1&after=1.1&state=nonsense")).status).toBe(400);
  await t.store.putConsoleUser({ name: "dora", passwordHash: await Bun.password.hash(PASSWORD), role: "reader", hostGroups: [], createdUs: 1 });
  const d = new Browser(t);
  await d.signIn("dora");
  expect((await d.go(next(page)!)).status).toBe(404);
  const log = (await t.store.accessLog(100)).filter((e) => e.userName === "ada").map((e) => e.action);
  expect(log.filter((a) => a.startsWith("session"))).toEqual(["session-all", "session-more", "session-more", "session"]);
});
