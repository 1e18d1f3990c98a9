/**
 * The console's pages over HTTP on the query bench's MariaDB table (default 10 million rows):
 * time to first byte and to the whole page of search pages, and of a 10,000-command session's
 * transcript, whose first screen (its first 500 records) must come within 200 ms.
 */
import mysql from "mysql2/promise";
import { openStore } from "../server/src/db/open.ts";
import { CHROMIUM, startChromium } from "../test/support/browser.ts";
import { startServer } from "../test/support/server.ts";
import { benchDatabase } from "./query.ts";
import { fmt, percentile, printTable } from "./table.ts";

const LONG = "bench-console-long";
const PASSWORD = "bench console password";

/** A 10,000-command session on one host, added for the run and removed after it (the query bench's row count stays). */
async function addLongSession(url: string, n: number): Promise<void> {
  const c = await mysql.createConnection({ uri: url });
  try {
    await c.query("DELETE FROM servercmdhist WHERE session_id = ?", [LONG]);
    await c.query(`INSERT INTO servercmdhist (oci, hostname, serverIps, ctime, luser, suser, terminal, clientIp, command, kind, ts_us, utc_offset, session_id, seq, cwd, exit_status, received_us)
      SELECT MD5(CONCAT('${LONG}', seq)), 'web-0001.prod.example.com', '10.0.0.1', '2026-09-01 00:00:00', 'alice', 'root', 'pts/1', '192.168.0.10',
        CONCAT('make -j8 target-', seq, ' && echo <done>'), 'command', ${Date.UTC(2026, 8, 1) * 1000} + seq * 1000000, 480, '${LONG}', seq, '/srv/build', seq % 2, 0
      FROM seq_1_to_${n}`);
  } finally {
    await c.end();
  }
}

async function removeLongSession(url: string): Promise<void> {
  const c = await mysql.createConnection({ uri: url });
  await c.query("DELETE FROM servercmdhist WHERE session_id = ?", [LONG]).finally(() => c.end());
}

/** Signs in through the form, as a browser does; the session cookie. */
async function signIn(base: string): Promise<string> {
  const page = await fetch(`${base}/login`);
  const login = /cmdaudit_login=([^;]+)/.exec(page.headers.getSetCookie().join(";"))![1]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  const res = await fetch(`${base}/login`, {
    method: "POST", redirect: "manual", headers: { Cookie: `cmdaudit_login=${login}`, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ user: "bench", password: PASSWORD, _csrf: csrf, next: "/" }),
  });
  const session = /(?:^|;)\s*cmdaudit=([^;]+)/.exec(res.headers.getSetCookie().join(";"))?.[1];
  if (!session) throw new Error(`sign-in failed: ${res.status}`);
  return `cmdaudit=${session}`;
}

/** ms to the response's headers, to `mark` in the body (when given), to its end. */
async function timed(url: string, cookie: string, mark?: string): Promise<{ ttfb: number; first: number; full: number; bytes: number; text: string }> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { Cookie: cookie } });
  const ttfb = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  let first = mark ? Infinity : ttfb;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
    if (first === Infinity && text.includes(mark!)) first = performance.now() - t0;
  }
  return { ttfb, first, full: performance.now() - t0, bytes: text.length, text };
}

export async function benchConsole(opts: { rows: number; samples: number; transcript: number }) {
  const url = await benchDatabase(opts.rows);
  const store = await openStore(url, { dataDir: "/tmp", legacyUtcOffset: 0 });
  await store.putConsoleUser({ name: "bench", role: "admin", hostGroups: [], passwordHash: await Bun.password.hash(PASSWORD), createdUs: Date.now() * 1000 });
  await store.close();
  const rows: (string | number)[][] = [];
  const rendered: (string | number)[][] = [];
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    await addLongSession(url, opts.transcript);
    // Log level info: startServer waits for the "listening" line.
    server = await startServer({ CMDAUDIT_DATABASE_URL: url, CMDAUDIT_INGEST_TOKENS: "bench-ingest-token-0123456789", CMDAUDIT_READ_TOKENS: "bench-read-token-0123456789ab", CMDAUDIT_LOG_LEVEL: "info" });
    const cookie = await signIn(server.url);
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const host = () => `web-${String(rnd(1000)).padStart(4, "0")}.prod.example.com`;
    const day = () => {
      const from = Date.UTC(2026, 8, 1) + rnd(29) * 86_400_000;
      return `from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(from + 86_400_000).toISOString())}`;
    };
    const pages: [string, () => string, number, string | undefined][] = [
      ["search: everything, newest 100", () => "/", opts.samples, undefined],
      ["search: host + 1-day range", () => `/?host=${host()}&${day()}`, opts.samples, undefined],
      ["search: login user, all time", () => `/?luser=u${rnd(200)}`, opts.samples, undefined],
      ["search: command text, common term", () => `/?q=systemctl`, opts.samples, undefined],
    ];
    for (const [name, make, n, mark] of pages) {
      const ttfb: number[] = [];
      const first: number[] = [];
      const full: number[] = [];
      let bytes = 0;
      for (let i = 0; i < n + 3; i++) {
        const t = await timed(`${server.url}${make()}`, cookie, mark);
        if (i < 3) continue; // warm-up
        ttfb.push(t.ttfb);
        first.push(t.first);
        full.push(t.full);
        bytes = t.bytes;
      }
      for (const a of [ttfb, first, full]) a.sort((x, y) => x - y);
      rows.push([name, n, fmt(bytes / 1024, 0), fmt(percentile(ttfb, 50), 1), fmt(percentile(ttfb, 95), 1),
        mark ? fmt(percentile(first, 50), 1) : "—", mark ? fmt(percentile(first, 95), 1) : "—", fmt(percentile(full, 50), 1), fmt(percentile(full, 95), 1)]);
    }
    rows.push(await transcriptOverHttp(server.url, cookie, Math.max(5, opts.samples / 10), opts.transcript));
    if (await Bun.file(CHROMIUM).exists()) rendered.push(...(await inBrowser(server.url, cookie, Math.max(5, opts.samples / 5))));
  } finally {
    await server?.stop();
    await removeLongSession(url);
  }
  printTable(`Console pages over HTTP: ${fmt(opts.rows)} rows in MariaDB, signed in as an admin (every host)`,
    ["page", "samples", "KiB", "TTFB p50 ms", "TTFB p95 ms", "first screen p50", "first screen p95", "full p50 ms", "full p95 ms"], rows);
  console.log("A transcript: its page is the first screen (100 records); \"full\": that page and every next page (500 records) fetched in turn, as the console's script does.");
  if (rendered.length) {
    printTable("The same pages rendered in Chromium (headless, this machine): first contentful paint and the load event, from navigation start",
      ["page", "samples", "first paint p50 ms", "first paint p95 ms", "load p50 ms", "load p95 ms", "all records p50 ms", "all records p95 ms"], rendered);
  }
  console.log("Targets: search pages p95 ≤ 200 ms; a transcript's first screen ≤ 200 ms.");
}

/** First contentful paint and load in a real browser, signed in by the cookie. */
async function inBrowser(base: string, cookie: string, n: number): Promise<(string | number)[][]> {
  const chromium = await startChromium();
  const out: (string | number)[][] = [];
  try {
    const ctx = await chromium.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const [name, value] = cookie.split("=") as [string, string];
    await ctx.addCookies([{ name, value, url: base }]);
    const page = await ctx.newPage();
    for (const [label, path] of [["search: everything, newest 100", "/"], ["transcript: 10,000 commands", `/sessions/${LONG}?host=web-0001.prod.example.com`]] as const) {
      const paint: number[] = [];
      const load: number[] = [];
      const done: number[] = [];
      for (let i = 0; i < n + 2; i++) {
        await page.goto(`${base}${path}`, { waitUntil: "load" });
        if (path.startsWith("/sessions/")) await page.locator("#transcript-done").waitFor({ state: "attached", timeout: 60_000 });
        const whole = (await page.evaluate("performance.now()")) as number;
        // A small page can finish loading before its first paint is recorded: wait for the entry.
        // (Polled with evaluate: waitForFunction evaluates strings in the page, which the console's CSP forbids.)
        for (let w = 0; w < 200 && !(await page.evaluate("performance.getEntriesByName('first-contentful-paint').length")); w++) await Bun.sleep(10);
        const t = (await page.evaluate("[performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1, performance.getEntriesByType('navigation')[0].loadEventEnd]")) as [number, number];
        if (i < 2) continue; // warm-up
        paint.push(t[0]);
        load.push(t[1]);
        done.push(path.startsWith("/sessions/") ? whole : t[1]);
      }
      for (const a of [paint, load, done]) a.sort((x, y) => x - y);
      out.push([label, n, fmt(percentile(paint, 50), 0), fmt(percentile(paint, 95), 0), fmt(percentile(load, 50), 0), fmt(percentile(load, 95), 0),
        fmt(percentile(done, 50), 0), fmt(percentile(done, 95), 0)]);
    }
    await ctx.close();
  } finally {
    await chromium.close();
  }
  return out;
}

/** The transcript as the console's script reads it: the page (its first screen), then each /more page in turn. */
async function transcriptOverHttp(base: string, cookie: string, n: number, commands: number): Promise<(string | number)[]> {
  const ttfb: number[] = [];
  const first: number[] = [];
  const full: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n + 2; i++) {
    const page = await timed(`${base}/sessions/${LONG}?host=web-0001.prod.example.com`, cookie);
    const t1 = performance.now();
    let html = page.text;
    let size = html.length;
    for (let next = /data-next="([^"]+)"/.exec(html)?.[1]; next; next = /data-next="([^"]+)"/.exec(html)?.[1]) {
      html = await (await fetch(`${base}${next.replaceAll("&amp;", "&")}`, { headers: { Cookie: cookie } })).text();
      size += html.length;
    }
    if (!html.includes("transcript-done")) throw new Error("the transcript did not end");
    if (i < 2) continue;
    ttfb.push(page.ttfb);
    first.push(page.full);
    full.push(page.full + (performance.now() - t1));
    bytes = size;
  }
  for (const a of [ttfb, first, full]) a.sort((x, y) => x - y);
  return [`transcript: ${fmt(commands)} commands (first screen: the page)`, n, fmt(bytes / 1024, 0), fmt(percentile(ttfb, 50), 1), fmt(percentile(ttfb, 95), 1),
    fmt(percentile(first, 50), 1), fmt(percentile(first, 95), 1), fmt(percentile(full, 50), 1), fmt(percentile(full, 95), 1)];
}
