/**
 * What one ingest request may cost and how often a token may send (issue 12): a gzip body inflates
 * to at most limits.max_gzip_ratio times its size (8 MiB always), a raw body holds at most
 * 10,000 lines, and each presented ingest token has a bucket of requests and bytes a minute
 * (429 with Retry-After past it), on both ingest routes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { encodeRecord } from "../../protocol/index.ts";
import { ConfigError, loadConfig } from "../../server/src/config.ts";
import { IngestRateLimiter } from "../../server/src/rate-limit.ts";
import { testConfig } from "../support/config.ts";
import { INGEST_TOKEN, type IngestAnswer, json, limits, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();
const OTHER_TOKEN = "other-ingest-token-0123456789";
suite.secret(OTHER_TOKEN);
const MiB = 1024 * 1024;
const gz9 = (b: string | Uint8Array) => gzipSync(b, { level: 9 });
const GZIP = { "Content-Encoding": "gzip" };

let seq = 0;
const record = (command: string) => suite.v2({ sessionId: "limits", seq: seq++, hostname: "limits-host", ctime: "2026-11-01T10:00:00+08:00", command });
const ca1 = (command: string) => encodeRecord({ ...record(command), command } as Parameters<typeof encodeRecord>[0]);
const msg = async (res: Response) => ((await res.json()) as { msg: string }).msg;

describe("the cost of one request", () => {
  test("a gzip bomb (ratio about 1000) is refused with 413 naming limits.max_gzip_ratio on both routes", async () => {
    const t = await suite.newApp();
    const bomb = gz9(Buffer.alloc(24 * MiB, "a"));
    for (const res of [await t.post(bomb, GZIP), await t.postRaw(bomb, "", GZIP)]) {
      expect(res.status).toBe(413);
      expect(await msg(res)).toMatch(/^gzip body of \d+ bytes inflates to more than 100 times its size \(limits\.max_gzip_ratio;/);
    }
    const lines = gz9(Buffer.alloc(24 * MiB, "\n"));
    const res = await t.postRaw(lines, "", GZIP);
    expect(res.status).toBe(413);
    expect(await msg(res)).toContain("limits.max_gzip_ratio");
  });

  test("a raw body of more than 20,000 lines (10,000 hook lines, each with the empty line before it) is refused before it is parsed (8 MiB of newlines, under the gzip floor)", async () => {
    const t = await suite.newApp({ limits: limits({ max_records_per_batch: 3 }) });
    const started = performance.now();
    const res = await t.postRaw(gz9(Buffer.alloc(8 * MiB, "\n")), "", GZIP);
    expect(res.status).toBe(413);
    expect(await msg(res)).toBe("body has more than 20000 lines");
    expect(performance.now() - started).toBeLessThan(3000);
    // 20,000 lines still go (the reporters' largest body, LF first), whatever max_records_per_batch is;
    // the hook's empty lines are not counted as ignored, other lines are.
    const ok = await t.postRaw("\n".repeat(19_000) + "x\n".repeat(1_000));
    expect(ok.status).toBe(200);
    expect((await json<IngestAnswer>(ok)).ignored).toBe(1_000);
    expect((await t.postRaw("\n".repeat(20_001))).status).toBe(413);
  });

  test("real bodies that compress very well still go: one 2 MiB command (ratio ~900), and records that repeat", async () => {
    const t = await suite.newApp();
    const big = "a".repeat(2 * MiB - 100);
    const asJson = gz9(JSON.stringify([record(big)]));
    expect(2 * MiB / asJson.length).toBeGreaterThan(500);
    const a = await t.post(asJson, GZIP);
    expect(a.status).toBe(200);
    expect((await json<IngestAnswer>(a)).accepted).toBe(1);
    const r = await t.postRaw(gz9(ca1(big)), "", GZIP);
    expect(r.status).toBe(200);
    expect((await json<IngestAnswer>(r)).accepted).toBe(1);
    // 5,000 records of one command, as a busy cron host writes them: a real body of 1.3 MB.
    const same = Buffer.concat(Array.from({ length: 5000 }, () => ca1("/usr/lib/sa/sa1 1 1")));
    const z = gz9(same);
    const many = await t.postRaw(z, "", GZIP);
    expect({ status: many.status, ratio: Math.round(same.length / z.length) > 5 }).toEqual({ status: 200, ratio: true });
    expect((await json<IngestAnswer>(many)).accepted).toBe(5000);
  });
});

describe("fuzz: gzip bodies of every ratio", () => {
  test("413 exactly when a body inflates past max(8 MiB, ratio x its size), never a 500; the others are read to the end", async () => {
    const { Rng } = await import("./helpers.ts");
    const { GZIP_FLOOR_BYTES } = await import("../../server/src/body.ts");
    const rng = new Rng(4242);
    // A small ratio so that bodies on both sides of the bound stay small enough for a quick test.
    const t = await suite.newApp({ limits: limits({ max_gzip_ratio: 10, ingest_requests_per_minute: 100_000, ingest_bytes_per_minute: 1 << 30 }) });
    let refused = 0;
    let read = 0;
    for (let i = 0; i < 40; i++) {
      // Random bytes (ratio ~1) mixed with runs of one byte (ratio ~1000), sizes around the floor.
      const size = GZIP_FLOOR_BYTES / 2 + rng.int(GZIP_FLOOR_BYTES);
      const noise = Buffer.from(rng.bytes(rng.int(256 * 1024)));
      const plain = Buffer.concat([noise, Buffer.alloc(Math.max(0, size - noise.length), rng.pick(["\n", "x", " "]))]);
      const gz = gz9(plain);
      const want = plain.length > Math.max(GZIP_FLOOR_BYTES, 10 * gz.length) ? 413 : 200;
      const res = await t.postRaw(gz, "?final=1", GZIP);
      const body = await res.text();
      // A body of lines that are not records is read (ignored or damaged), not refused: 200; over 20,000 lines: 413 too.
      const lines = plain.filter((b) => b === 0x0a).length;
      const expected = want === 413 || lines > 20_000 ? 413 : 200;
      expect({ i, status: res.status, ratio: Math.round(plain.length / gz.length) }).toEqual({ i, status: expected, ratio: Math.round(plain.length / gz.length) });
      if (res.status === 413) refused++;
      else { read++; expect(JSON.parse(body).code).toBe(0); }
    }
    expect(refused).toBeGreaterThan(3);
    expect(read).toBeGreaterThan(3);
  }, 60_000);
});

describe("rate limit per ingest token", () => {
  const twoTokens = () => ({ ...testConfig().tokens, ingest: [INGEST_TOKEN, OTHER_TOKEN] });

  test("past limits.ingest_requests_per_minute: 429 with Retry-After on both routes; another token is not affected", async () => {
    const t = await suite.newApp({ tokens: twoTokens(), limits: limits({ ingest_requests_per_minute: 3 }) });
    expect((await t.post([record("echo 1")])).status).toBe(200);
    expect((await t.postRaw(ca1("echo 2"))).status).toBe(200);
    expect((await t.post([record("echo 3")])).status).toBe(200);
    for (const res of [await t.post([record("echo 4")]), await t.postRaw(ca1("echo 5"))]) {
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("20"); // one request at 3 a minute
      expect(await msg(res)).toBe("this token reached limits.ingest_requests_per_minute (3); retry after 20 s");
    }
    expect((await t.post([record("echo other")], { AccessToken: OTHER_TOKEN })).status).toBe(200);
    expect((await t.postRaw(ca1("echo other raw"), "", { Authorization: `Bearer ${OTHER_TOKEN}` })).status).toBe(200);
    expect((await t.all()).map((r) => r.command).sort()).toEqual(["echo 1", "echo 2", "echo 3", "echo other", "echo other raw"]);
  });

  test("host tokens: one bucket per host, however its token is spelt; other hosts are not affected", async () => {
    const key = "limits-host-key-0123456789abcdefghijklmno";
    const t = await suite.newApp({ tokens: { ...testConfig().tokens, host_key: key, host_generations: { "limits-host": 1 } }, limits: limits({ ingest_requests_per_minute: 2 }) });
    const { hostToken } = await import("../../server/src/host-token.ts");
    const mine = hostToken(key, "limits-host", 1);
    const other = hostToken(key, "other-host", 0);
    suite.secret(key, mine, other);
    expect((await t.post([record("h1")], { AccessToken: mine })).status).toBe(200);
    // The host part in capitals is the same host's token (the mac covers the lower-case name): the same bucket.
    expect((await t.post([record("h2")], { AccessToken: mine.replace("limits-host", "LIMITS-HOST") })).status).toBe(200);
    expect((await t.post([record("h3")], { AccessToken: mine })).status).toBe(429);
    expect((await t.post([{ ...record("o1"), hostname: "other-host" }], { AccessToken: other })).status).toBe(200);
  });

  test("a shared token: one bucket per client address (a fleet on one token is many hosts), over real sockets", async () => {
    const t = await suite.newApp({ limits: limits({ ingest_requests_per_minute: 2 }) });
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: t.app.fetch });
    try {
      // curl, not fetch: it can choose the source address (the server runs in this process, so not spawnSync).
      const post = async (from: string, command: string) => {
        const p = Bun.spawn(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface", from, "-H", `AccessToken: ${INGEST_TOKEN}`,
          "-H", "Content-Type: application/json", "--data-binary", JSON.stringify([record(command)]), `http://127.0.0.1:${server.port}/api/v1/commands`], { stdout: "pipe" });
        return new Response(p.stdout).text();
      };
      const codes = async (from: string) => [await post(from, `${from} 1`), await post(from, `${from} 2`), await post(from, `${from} 3`)];
      expect(await codes("127.0.0.1")).toEqual(["200", "200", "429"]);
      expect(await codes("127.0.0.2")).toEqual(["200", "200", "429"]);
    } finally {
      server.stop(true);
    }
  });

  test("past limits.ingest_bytes_per_minute (decompressed bytes): 429 until the debt is refilled; the bucket refills with the clock", async () => {
    let now = 1_000_000;
    const t = await suite.newApp({ limits: limits({ ingest_bytes_per_minute: MiB }) }, undefined, () => now);
    // 1.5 MiB inflated from a few KB: the bucket of 1 MiB goes 0.5 MiB into debt, once.
    const first = await t.post(gz9(JSON.stringify([record("b".repeat(1.5 * MiB))])), GZIP);
    expect(first.status).toBe(200);
    const refused = await t.postRaw(ca1("echo after"));
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("31");
    expect(await msg(refused)).toContain("limits.ingest_bytes_per_minute (1048576)");
    now += 29_000;
    expect((await t.postRaw(ca1("echo after"))).status).toBe(429);
    now += 2_000;
    expect((await t.postRaw(ca1("echo after"))).status).toBe(200);
  });

  test("requests refill at the configured rate (a clock, no sleeps)", async () => {
    let now = 5_000_000;
    const t = await suite.newApp({ limits: limits({ ingest_requests_per_minute: 2 }) }, undefined, () => now);
    expect((await t.post([record("r1")])).status).toBe(200);
    expect((await t.post([record("r2")])).status).toBe(200);
    expect((await t.post([record("r3")])).status).toBe(429);
    now += 29_000;
    expect((await t.post([record("r3")])).status).toBe(429);
    now += 1_000;
    expect((await t.post([record("r3")])).status).toBe(200);
    now += 10 * 60_000; // a long idle time refills to the burst, not beyond
    expect((await t.post([record("r4")])).status).toBe(200);
    expect((await t.post([record("r5")])).status).toBe(200);
    expect((await t.post([record("r6")])).status).toBe(429);
  });

  test("the limiter keys buckets by the token's SHA-256 and holds a bounded number of them", () => {
    const key = IngestRateLimiter.key(INGEST_TOKEN);
    expect(key).not.toContain(INGEST_TOKEN.slice(0, 8));
    expect(key).toBe(new Bun.CryptoHasher("sha256").update(INGEST_TOKEN).digest("base64"));
    let now = 0;
    const l = new IngestRateLimiter({ bytesPerMinute: MiB, requestsPerMinute: 1 }, () => now, 3);
    for (let i = 0; i < 50; i++) {
      expect(l.admit(IngestRateLimiter.key(`token-${i}`))).toBeUndefined();
      now += 1000;
    }
    expect(l.size).toBe(3);
    // The most recent keys are kept: their buckets are still empty.
    expect(l.admit(IngestRateLimiter.key("token-49"))?.key).toBe("limits.ingest_requests_per_minute");
  });
});

describe("config", () => {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-limits-config-"));
  const file = (text: string) => {
    const p = join(dir, `c${Math.random().toString(36).slice(2)}.yml`);
    writeFileSync(p, text);
    return p;
  };
  const problem = (text: string) => {
    try {
      loadConfig(file(text), {});
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
    return "";
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("defaults: ratio 100, 256 MiB and 600 requests a minute per token", () => {
    const c = loadConfig(undefined, {});
    expect([c.limits.max_gzip_ratio, c.limits.ingest_bytes_per_minute, c.limits.ingest_requests_per_minute]).toEqual([100, 256 * MiB, 600]);
  });

  test("each key is validated and named", () => {
    const c = loadConfig(file("limits:\n  max_gzip_ratio: 20\n  ingest_bytes_per_minute: 2097152\n  ingest_requests_per_minute: 1\n"), {});
    expect([c.limits.max_gzip_ratio, c.limits.ingest_bytes_per_minute, c.limits.ingest_requests_per_minute]).toEqual([20, 2 * MiB, 1]);
    expect(problem("limits:\n  max_gzip_ratio: 5\n")).toContain("limits.max_gzip_ratio");
    expect(problem("limits:\n  max_gzip_ratio: 1.5\n")).toContain("limits.max_gzip_ratio");
    expect(problem("limits:\n  ingest_bytes_per_minute: 1000\n")).toContain("limits.ingest_bytes_per_minute");
    expect(problem("limits:\n  ingest_requests_per_minute: 0\n")).toContain("limits.ingest_requests_per_minute");
    expect(problem("limits:\n  ingest_requests_per_minute: \"600\"\n")).toContain("limits.ingest_requests_per_minute");
  });
});
