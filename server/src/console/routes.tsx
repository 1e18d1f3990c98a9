/**
 * The auditor's console: server-rendered pages under `/`, signed-in people only (session.ts), every
 * view of audit data written to the access log. Command text is attacker-controlled: JSX escapes
 * every string, and the CSP allows no inline script at all.
 */
import { randomBytes } from "node:crypto";
import { Hono, type Context } from "hono";
import { getConnInfo } from "hono/bun";
import { getCookie, setCookie } from "hono/cookie";
import { raw } from "hono/html";
import type { AppDeps } from "../app.ts";
import type { TranscriptCursor } from "../db/store.ts";
import { decodeCursor, encodeCursor, exportStream } from "../present.ts";
import { bySilence } from "../routes/hosts.ts";
import { decodeSessionCursor, encodeSessionCursor } from "../routes/sessions.ts";
import { alertPages } from "./alerts-routes.tsx";
import { ASSETS } from "./assets.ts";
import { LoginThrottle } from "./login-throttle.ts";
import { parseSearch } from "./query.ts";
import { requireViewer, safeNext, sameSecret, signIn, signOut, type Viewer } from "./session.ts";
import { mayView, visibleHosts } from "./visible.ts";
import { AccessPage, HostPage, HostsPage, LoginPage } from "./views/hosts.tsx";
import { Layout } from "./views/layout.tsx";
import { SearchPage } from "./views/search.tsx";
import { newTranscriptState, stateFromQuery, stateToQuery, TranscriptChunk, TranscriptEnd, type TranscriptState } from "./views/transcript.tsx";

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const LOGIN_COOKIE = "cmdaudit_login";
const PAGE = 100;
const TRANSCRIPT_PAGE = 500;
const FIRST_SCREEN = 100;
const MAX_FORM_BYTES = 16 * 1024;

function clientIp(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "";
  } catch {
    return ""; // app.request() in tests: no socket
  }
}

/** A password check that takes as long for a user who does not exist. */
let dummyHash: Promise<string> | undefined;
async function checkPassword(hash: string | undefined, password: string): Promise<boolean> {
  dummyHash ??= Bun.password.hash("not a password of anyone");
  const ok = await Bun.password.verify(password, hash ?? (await dummyHash));
  return ok && hash !== undefined;
}

export function consoleRoutes(d: AppDeps) {
  const app = new Hono();
  const throttle = new LoginThrottle();
  const log = (c: Context, user: string, action: string, detail: string) =>
    d.store.logAccess({ tsUs: Date.now() * 1000, userName: user, action, detail: detail.slice(0, 4000), clientIp: clientIp(c) });
  const viewerOf = (c: Context): Viewer => c.get("viewer");
  const authed = requireViewer(d);

  app.use("*", async (c, next) => {
    await next();
    c.header("Content-Security-Policy", CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("X-Frame-Options", "DENY");
    c.header("Referrer-Policy", "same-origin");
    if (d.config.tls) c.header("Strict-Transport-Security", "max-age=31536000");
  });
  // A form posted from another origin is refused before anything else (SameSite=Strict and the CSRF token also stop it),
  // and so is a form body larger than any of the console's forms.
  app.use("*", async (c, next) => {
    if (c.req.method === "POST") {
      const origin = c.req.header("origin");
      if (origin && origin !== new URL(c.req.url).origin) return c.text("cross-origin form refused", 403);
      // Browsers state a form's length; a chunked body is bounded by the server's limits.max_body_bytes.
      const length = Number(c.req.header("content-length") ?? 0);
      if (length > MAX_FORM_BYTES) return c.text(`a form body holds at most ${MAX_FORM_BYTES} bytes`, 413);
    }
    await next();
  });

  for (const [name, a] of Object.entries(ASSETS)) {
    app.get(`/assets/${name}`, (c) => c.body(a.body, 200, { "Content-Type": a.type, "Cache-Control": "public, max-age=3600" }));
  }

  /** The sign-in form with a fresh token, also in its own cookie: a post must bring both (double submit). */
  const loginForm = (c: Context, next: string, error?: { text: string; status: 400 | 401 | 429 }) => {
    const token = randomBytes(24).toString("base64url");
    setCookie(c, LOGIN_COOKIE, token, { httpOnly: true, sameSite: "Strict", secure: !!d.config.tls, path: "/login", maxAge: 3600 });
    return c.html(<LoginPage next={next} csrf={token} error={error?.text} />, error?.status ?? 200);
  };

  app.get("/login", (c) => loginForm(c, safeNext(c.req.query("next"))));

  app.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const str = (k: string) => (typeof form[k] === "string" ? (form[k] as string) : "");
    const next = safeNext(str("next"));
    const cookie = getCookie(c, LOGIN_COOKIE);
    const again = (text: string, status: 400 | 401 | 429) => loginForm(c, next, { text, status });
    if (!cookie || !sameSecret(cookie, str("_csrf"))) return again("The sign-in form expired: please sign in again.", 400);
    const name = str("user").slice(0, 64);
    const key = `${name}\u0000${clientIp(c)}`;
    if (throttle.blocked(key)) {
      await log(c, name, "login-throttled", "");
      return again("Too many failed sign-ins: wait 15 minutes.", 429);
    }
    const user = name ? await d.store.consoleUser(name) : undefined;
    if (!(await checkPassword(user?.passwordHash, str("password").slice(0, 1024))) || !user) {
      throttle.failed(key);
      await log(c, name, "login-failed", "");
      return again("Wrong user or password.", 401);
    }
    throttle.reset(key);
    await signIn(c, d, user);
    await log(c, user.name, "login", "");
    return c.redirect(next, 303);
  });

  app.post("/logout", authed, async (c) => {
    const form = await c.req.parseBody();
    const v = viewerOf(c);
    if (!sameSecret(v.csrf, typeof form._csrf === "string" ? form._csrf : "")) return c.text("the form's CSRF token is wrong", 403);
    await signOut(c, d);
    await log(c, v.user.name, "logout", "");
    return c.redirect("/login", 303);
  });

  app.get("/", authed, async (c) => {
    const v = viewerOf(c);
    const { form, filter, error } = parseSearch(new URL(c.req.url).searchParams, Date.now() * 1000);
    const after = form.cursor !== undefined ? decodeCursor(form.cursor) : undefined;
    if (error || !filter || (form.cursor !== undefined && !after)) {
      return c.html(<SearchPage viewer={v} form={form} rows={[]} next={undefined} error={error ?? "cursor: not one this server issued"} />, 400);
    }
    const hostIn = await visibleHosts(v.user, d.config, d.store);
    await log(c, v.user.name, "search", form.queryString || "(everything)");
    const rows = await d.store.query({ ...filter, hostIn }, PAGE, after);
    const last = rows.at(-1);
    const next = rows.length === PAGE && last ? encodeCursor({ tsUs: last.tsUs, id: last.id }) : undefined;
    return c.html(<SearchPage viewer={v} form={form} rows={rows} next={next} />);
  });

  app.get("/export", authed, async (c) => {
    const v = viewerOf(c);
    const format = c.req.query("format");
    if (format !== "ndjson" && format !== "csv") return c.text("format: ndjson or csv", 400);
    const { form, filter, error } = parseSearch(new URL(c.req.url).searchParams, Date.now() * 1000);
    if (error || !filter) return c.text(error ?? "bad query", 400);
    const hostIn = await visibleHosts(v.user, d.config, d.store);
    await log(c, v.user.name, `export-${format}`, form.queryString || "(everything)");
    const stamp = new Date().toISOString().replace(/[:.]/g, "").slice(0, 15);
    return new Response(exportStream(d.store, { ...filter, hostIn }, format), {
      headers: {
        "Content-Type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
        "Content-Disposition": `attachment; filename="cmdaudit-${stamp}.${format}"`,
        "Cache-Control": "no-store",
      },
    });
  });

  app.get("/sessions/:id", authed, async (c) => {
    const v = viewerOf(c);
    const id = c.req.param("id");
    let host = c.req.query("host");
    if (!host) {
      // A link without the host: the session id's hosts (ids are random: one, nearly always).
      const some = await d.store.query({ sessionId: id, hostIn: await visibleHosts(v.user, d.config, d.store) }, 50);
      const hosts = [...new Set(some.map((r) => r.hostname))];
      if (hosts.length > 1) return c.html(<Layout title="Session" viewer={v}><p>This session id is on several hosts: {hosts.map((h) => <a href={`/sessions/${encodeURIComponent(id)}?host=${encodeURIComponent(h)}`}>{h} </a>)}</p></Layout>);
      host = hosts[0];
    }
    if (!host || !mayView(v.user, d.config, host)) {
      return c.html(<Layout title="Session" viewer={v}><p class="error">No such session, or not on a host you may see.</p></Layout>, 404);
    }
    const all = c.req.query("all") === "1";
    await log(c, v.user.name, all ? "session-all" : "session", `${host} ${id}`);
    const h = host;
    const [head, tail] = String(<Layout title={`Session ${id}`} viewer={v}>
      <h1>Session <code>{id}</code> on <a href={`/hosts/${encodeURIComponent(h)}`}>{h}</a></h1>
      <section class="transcript" id="transcript">{raw("<!--records-->")}</section>
    </Layout>).split("<!--records-->") as [string, string];
    const st = newTranscriptState();
    const enc = new TextEncoder();
    let after: TranscriptCursor | undefined;
    let sentHead = false;
    let done = false;
    // The head at once, then the first screen of records. Without all=1 the page ends there and the
    // console's script fetches the rest (/more) a page at a time: the browser paints the first screen
    // of a 10,000-command session at once. With all=1 (and for readers without script) the whole
    // session streams in this one response, a page at a time as the browser reads.
    const body = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        if (!sentHead) {
          sentHead = true;
          ctrl.enqueue(enc.encode(`<!DOCTYPE html>${head}`));
          return;
        }
        if (done) return ctrl.close();
        const part = await transcriptPart(h, id, st, after, after ? TRANSCRIPT_PAGE : FIRST_SCREEN, !all);
        if (part.next && all) after = part.next;
        else done = true;
        ctrl.enqueue(enc.encode(done ? part.html + tail : part.html));
      },
    }, { highWaterMark: 0 });
    return new Response(body, { headers: { "Content-Type": "text/html; charset=UTF-8", "Cache-Control": "no-store" } });
  });

  /** The next page of a transcript, as HTML to append (the console's script asks for it); each page read is in the access log. */
  app.get("/sessions/:id/more", authed, async (c) => {
    const v = viewerOf(c);
    const id = c.req.param("id");
    const host = c.req.query("host");
    const at = /^(\d{1,15})\.(\d{1,15})$/.exec(c.req.query("after") ?? "");
    const st = stateFromQuery(c.req.query("state") ?? "");
    if (!host || !at || !st) return c.text("host, after and state: as the transcript page gave them", 400);
    if (!mayView(v.user, d.config, host)) return c.text("no such session, or not on a host you may see", 404);
    await log(c, v.user.name, "session-more", `${host} ${id} after seq ${at[1]}`);
    const part = await transcriptPart(host, id, st, { seq: Number(at[1]), id: Number(at[2]) }, TRANSCRIPT_PAGE, true);
    return c.html(part.html, 200, { "Cache-Control": "no-store" });
  });

  /**
   * Up to `want` records after `after` as HTML, with the gaps before them; then, when more may
   * follow, a continuation (`#more`, for the script; a link to the whole session for readers
   * without it) when `continued`, or the end of the transcript.
   */
  async function transcriptPart(host: string, id: string, st: TranscriptState, after: TranscriptCursor | undefined, want: number, continued: boolean): Promise<{ html: string; next?: TranscriptCursor }> {
    const rows = await d.store.transcript(host, id, want, after);
    const html = String(<TranscriptChunk rows={rows} st={st} />);
    const last = rows.at(-1);
    if (rows.length < want || !last) return { html: html + String(<TranscriptEnd st={st} />) };
    const next = { seq: last.seq ?? 0, id: last.id };
    if (!continued) return { html, next };
    const base = `/sessions/${encodeURIComponent(id)}`;
    const more = `${base}/more?host=${encodeURIComponent(host)}&after=${next.seq}.${next.id}&state=${stateToQuery(st)}`;
    return { html: html + String(<div id="more" class="marker" data-next={more}>Loading the rest of the session… <a href={`${base}?host=${encodeURIComponent(host)}&all=1`}>or open it whole</a></div>), next };
  }

  app.get("/hosts", authed, async (c) => {
    const v = viewerOf(c);
    const visible = await visibleHosts(v.user, d.config, d.store);
    await log(c, v.user.name, "hosts", "");
    const hosts = bySilence((await d.store.hosts()).filter((h) => visible === undefined || visible.includes(h.hostname)), d.config);
    return c.html(<HostsPage viewer={v} hosts={hosts} />);
  });

  app.get("/hosts/:name", authed, async (c) => {
    const v = viewerOf(c);
    const name = c.req.param("name");
    const host = mayView(v.user, d.config, name) ? (await d.store.hosts()).find((h) => h.hostname === name) : undefined;
    if (!host) {
      return c.html(<Layout title="Host" viewer={v}><p class="error">No such host, or not one you may see.</p></Layout>, 404);
    }
    const cursor = c.req.query("cursor");
    const after = cursor !== undefined ? decodeSessionCursor(cursor) : undefined;
    if (cursor !== undefined && !after) return c.text("cursor: not one this server issued", 400);
    await log(c, v.user.name, "host", name);
    const sessions = await d.store.sessions({ host: name }, PAGE, after);
    const last = sessions.at(-1);
    const next = sessions.length === PAGE && last ? encodeSessionCursor({ lastTsUs: last.lastTsUs, sessionId: last.sessionId }) : undefined;
    return c.html(<HostPage viewer={v} host={host} sessions={sessions} next={next} />);
  });

  app.get("/access", authed, async (c) => {
    const v = viewerOf(c);
    if (v.user.role !== "admin") return c.html(<Layout title="Access log" viewer={v}><p class="error">Admins only.</p></Layout>, 403);
    const before = c.req.query("before");
    const beforeId = before !== undefined && /^\d{1,15}$/.test(before) ? Number(before) : undefined;
    await log(c, v.user.name, "access-log", before ?? "");
    const entries = await d.store.accessLog(PAGE, beforeId);
    return c.html(<AccessPage viewer={v} entries={entries} next={entries.length === PAGE ? entries.at(-1)!.id : undefined} />);
  });

  alertPages(app, d, { authed, log });
  return app;
}
