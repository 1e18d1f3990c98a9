/**
 * The console's pages over HTTP on the query bench's MariaDB table (default 10 million rows):
 * time to first byte and to the whole page of search pages, and of a 10,000-command session's
 * transcript, whose first screen (its first 500 records) must come within 200 ms.
 */
import mysql from "mysql2/promise";
import { openStore } from "../server/src/db/open.ts";
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
async function timed(url: string, cookie: string, mark?: string): Promise<{ ttfb: number; first: number; full: number; bytes: number }> {
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
  return { ttfb, first, full: performance.now() - t0, bytes: text.length };
}

export async function benchConsole(opts: { rows: number; samples: number; transcript: number }) {
  const url = await benchDatabase(opts.rows);
  await addLongSession(url, opts.transcript);
  const store = await openStore(url, { dataDir: "/tmp", legacyUtcOffset: 0 });
  await store.putConsoleUser({ name: "bench", role: "admin", hostGroups: [], passwordHash: await Bun.password.hash(PASSWORD), createdUs: Date.now() * 1000 });
  await store.close();
  const server = await startServer({ CMDAUDIT_DATABASE_URL: url, CMDAUDIT_INGEST_TOKENS: "bench-ingest-token-0123456789", CMDAUDIT_READ_TOKENS: "bench-read-token-0123456789ab", CMDAUDIT_LOG_LEVEL: "warn" });
  const rows: (string | number)[][] = [];
  try {
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
      ["search: login user, last 30 days", () => `/?luser=u${rnd(200)}&range=30d`, opts.samples, undefined],
      ["search: command text, common term", () => `/?q=systemctl`, opts.samples, undefined],
      [`transcript: ${fmt(opts.transcript)} commands (first = first 500 records)`, () => `/sessions/${LONG}?host=web-0001.prod.example.com`, Math.max(5, opts.samples / 10), 'id="seq-500"'],
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
  } finally {
    await server.stop();
    await removeLongSession(url);
  }
  printTable(`Console pages over HTTP: ${fmt(opts.rows)} rows in MariaDB, signed in as an admin (every host)`,
    ["page", "samples", "KiB", "TTFB p50 ms", "TTFB p95 ms", "first screen p50", "first screen p95", "full p50 ms", "full p95 ms"], rows);
  console.log("Targets: search pages full p95 ≤ 200 ms; a transcript's first screen ≤ 200 ms.");
}
