/**
 * Per-host ingest tokens: a token writes only its own host's records (JSON and raw routes, hook and
 * 2018 lines), forged, altered and revoked tokens get the one 401, shared tokens only behind
 * tokens.shared_ingest. In-process: createApp() on a real SQLite store through app.request().
 */
import { describe, expect, test } from "bun:test";
import { hostToken, verifyHostToken } from "../../server/src/host-token.ts";
import { testConfig } from "../support/config.ts";
import { enc, INGEST_TOKEN, type IngestAnswer, Rng, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();
const KEY = "host-key-for-tests-0123456789abcdefghijkl";
const OTHER_KEY = "another-host-key-0123456789abcdefghijklmno";
suite.secret(KEY, OTHER_KEY);

/** An app that takes per-host tokens under KEY; `shared` adds the test's shared token. */
function hostApp(opts: { shared?: boolean; generations?: Record<string, number> } = {}) {
  const base = testConfig().tokens;
  return suite.newApp({
    tokens: { ...base, host_key: KEY, host_generations: opts.generations ?? {}, shared_ingest: opts.shared ?? false },
  });
}

function tokenOf(host: string, generation = 0, key = KEY): string {
  const t = hostToken(key, host, generation);
  suite.secret(t);
  return t;
}

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

describe("per-host ingest tokens", () => {
  test("a host's token stores its own records and rejects, one by one with the reason, records that claim another host (JSON)", async () => {
    const t = await hostApp();
    const web1 = tokenOf("web-1.example.com");
    const res = await t.post([
      suite.v2({ hostname: "web-1.example.com", sessionId: "own", seq: 1, command: "own-record" }),
      suite.v2({ hostname: "db-1.example.com", sessionId: "forged", seq: 1, command: "forged-for-db-1" }),
      suite.v2({ hostname: "WEB-1.Example.COM", sessionId: "own", seq: 2, command: "own-record-upper-case" }),
    ], { AccessToken: web1 });
    expect(res.status).toBe(200);
    const a = (await res.json()) as IngestAnswer;
    expect(a.accepted).toBe(2);
    expect(a.rejected).toEqual([{ index: 1, error: expect.stringContaining('hostname "db-1.example.com" is not the host this token belongs to (web-1.example.com)') }]);
    expect((await t.all()).map((r) => r.command).sort()).toEqual(["own-record", "own-record-upper-case"]);
  });

  test("raw route: hook lines and 2018 lines naming another host are rejected by line, the host's own are stored", async () => {
    const t = await hostApp();
    const token = tokenOf("web-1");
    // What bash's exit dump of a typed line looks like in a 2018 log: a clean-looking record of evil-host.
    const typed = "[2024-05-01 03:00:00] [(admin) admin pts/9 198.51.100.66] [evil-host@6.6.6.6] rm -rf /data\n";
    const own2018 = "[2024-05-01 03:00:01] [(root) root pts/1 198.51.100.7] [web-1@10.0.0.1] uptime-2018\n";
    suite.secret("rm -rf /data", "uptime-2018");
    const body = Buffer.concat([
      enc(suite.hook({ hostname: "web-1", sessionId: "r1", seq: 1, command: "own-hook-line" })),
      enc(suite.hook({ hostname: "db-1", sessionId: "r2", seq: 1, command: "forged-hook-line" })),
      Buffer.from(typed), Buffer.from(own2018),
    ]);
    const res = await t.postRaw(body, "", bearer(token));
    expect(res.status).toBe(200);
    const a = (await res.json()) as IngestAnswer;
    expect(a.accepted).toBe(2);
    expect(a.rejected.map((r) => r.line)).toEqual([2, 3]);
    expect(a.rejected[0]!.error).toContain('hostname "db-1" is not the host this token belongs to (web-1)');
    expect(a.rejected[1]!.error).toContain('hostname "evil-host"');
    expect(a.consumed).toBe(body.length); // rejected lines are settled, never resent for ever
    expect((await t.all()).map((r) => `${r.hostname} ${r.command}`).sort()).toEqual(["web-1 own-hook-line", "web-1 uptime-2018"]);
  });

  test("forged, altered, revoked and other-key tokens all get the one 401, and nothing is stored", async () => {
    const t = await hostApp({ generations: { "WEB-2": 3 } });
    const good = tokenOf("web-1");
    const mac = good.slice(-32);
    const forged = [
      `cah1.0.db-1.${mac}`, // web-1's mac under db-1's name
      `cah1.1.web-1.${mac}`, // another generation
      good.slice(0, -1) + (good.endsWith("0") ? "1" : "0"), // one digit of the mac
      good.slice(0, -2), // a truncated mac
      good.toUpperCase(), // hex in capitals is not the token
      `${good}0`,
      tokenOf("web-1", 0, OTHER_KEY),
      tokenOf("web-2", 2), // revoked: web-2 is at generation 3
      tokenOf("web-2", 4), // a generation not issued yet
      `cah1.00.web-1.${mac}`, `cah1.-1.web-1.${mac}`, "cah1.", "cah1.0..".padEnd(60, "0"),
      INGEST_TOKEN, // shared tokens are off here
    ];
    const bodies = new Set<string>();
    for (const tok of forged) {
      suite.secret(tok);
      const json = await t.post([suite.v2({ hostname: "web-1", command: "must-not-store" })], { AccessToken: tok });
      const raw = await t.postRaw(enc(suite.hook({ hostname: "web-1", command: "must-not-store-raw" })), "", bearer(tok));
      for (const r of [json, raw]) {
        expect([tok.slice(0, 30), r.status]).toEqual([tok.slice(0, 30), 401]);
        bodies.add(await r.text());
      }
    }
    expect([...bodies]).toEqual([JSON.stringify({ code: 401, msg: "unauthorized" })]);
    expect(await t.all()).toEqual([]);
    // The current generation works; a host token never reads.
    const current = tokenOf("web-2", 3);
    expect((await t.post([suite.v2({ hostname: "web-2", command: "gen-3" })], { AccessToken: current })).status).toBe(200);
    expect((await t.app.request("/api/v1/commands", { headers: bearer(current) })).status).toBe(401);
    expect((await t.all()).map((r) => r.command)).toEqual(["gen-3"]);
  });

  test("fuzz: every one-character change of a valid token is refused; none is a 500", async () => {
    const t = await hostApp();
    const good = tokenOf("web-1.example.com", 7);
    const app = await suite.newApp({ tokens: { ...testConfig().tokens, host_key: KEY, host_generations: { "web-1.example.com": 7 }, shared_ingest: false } });
    const rng = new Rng(12);
    const alphabet = "0123456789abcdefABCDEF.-_xyzc";
    for (let i = 0; i < 300; i++) {
      const at = rng.int(good.length);
      const ch = alphabet[rng.int(alphabet.length)]!;
      const changed = good.slice(0, at) + ch + good.slice(at + 1);
      if (changed === good) continue;
      // Case of the host name does not change whom the token names: the mac covers the lower-case name.
      const sameHost = changed.toLowerCase() === good && /[A-Z]/.test(ch) && at < good.length - 32;
      const id = verifyHostToken(KEY, { "web-1.example.com": 7 }, changed);
      expect(id === undefined || sameHost).toBe(true);
    }
    const res = await app.post([suite.v2({ hostname: "web-1.example.com" })], { AccessToken: good });
    expect(res.status).toBe(200);
    await t.close();
  });

  test("shared tokens: taken by default when configured (existing fleets), refused with tokens.shared_ingest: false", async () => {
    const legacy = await suite.newApp(); // tokens.ingest set, shared_ingest unset
    expect((await legacy.post([suite.v2({ hostname: "any-host", command: "shared-default" })])).status).toBe(200);
    const off = await hostApp({ shared: false });
    expect((await off.post([suite.v2({ hostname: "any-host", command: "shared-off" })])).status).toBe(401);
    const on = await hostApp({ shared: true });
    expect((await on.post([suite.v2({ hostname: "any-host", command: "shared-on" })])).status).toBe(200);
    // With both, a host token still binds its host while the shared token writes for any.
    const res = await on.post([suite.v2({ hostname: "any-host", command: "host-token-other-host" })], { AccessToken: tokenOf("web-1") });
    expect(((await res.json()) as IngestAnswer).rejected.length).toBe(1);
  });

  test("fuzz: random host names and times against one host token: stored exactly when the name is the token's host (any case) and the time within the bounds", async () => {
    const t = await suite.newApp({
      tokens: { ...testConfig().tokens, host_key: KEY, host_generations: {}, shared_ingest: false },
      records: { max_future_seconds: 3600, max_age_days: 30 },
    });
    const token = tokenOf("app-7.prod");
    const rng = new Rng(77);
    const names = ["app-7.prod", "APP-7.PROD", "App-7.Prod", "app-7.prod.", "app-7", "app-7.prod2", "xapp-7.prod", "аpp-7.prod", "app\u200b-7.prod", "app-7.prod\u202e", "app_7.prod", "app-1.prod"];
    const now = Date.now();
    const DAY = 86_400_000;
    let expected = 0;
    let stored = 0;
    for (let b = 0; b < 20; b++) {
      const batch: Record<string, unknown>[] = [];
      const want: boolean[] = [];
      for (let i = 0; i < 50; i++) {
        const hostname = rng.pick(names);
        // Times from 60 days back to 2 hours ahead, never within a minute of a bound.
        let at = now - 60 * DAY + rng.int(60 * DAY + 2 * 3_600_000);
        if (Math.abs(at - (now - 30 * DAY)) < 60_000 || Math.abs(at - (now + 3_600_000)) < 60_000) at = now;
        const ok = hostname.toLowerCase() === "app-7.prod" && at >= now - 30 * DAY && at <= now + 3_600_000;
        want.push(ok);
        batch.push(suite.v2({ hostname, ctime: new Date(at).toISOString(), sessionId: `fz${b}`, seq: i, command: `fuzz ${b}/${i}` }));
      }
      const res = await t.post(batch, { AccessToken: token });
      expect(res.status).toBe(200);
      const a = (await res.json()) as IngestAnswer;
      const rejected = new Set(a.rejected.map((r) => r.index));
      want.forEach((ok, i) => expect({ b, i, host: batch[i]!.hostname, stored: !rejected.has(i) }).toEqual({ b, i, host: batch[i]!.hostname, stored: ok }));
      expected += want.filter(Boolean).length;
      stored += a.accepted;
    }
    expect(stored).toBe(expected);
    expect(expected).toBeGreaterThan(50);
    expect((await t.all()).every((r) => r.hostname.toLowerCase() === "app-7.prod")).toBe(true);
  });

  test("/api/v1/hosts says which hosts still send with a shared token", async () => {
    const t = await hostApp({ shared: true });
    expect((await t.post([suite.v2({ hostname: "own-token-host", command: "h1" })], { AccessToken: tokenOf("own-token-host") })).status).toBe(200);
    expect((await t.post([suite.v2({ hostname: "shared-token-host", command: "s1" })])).status).toBe(200);
    const hosts = ((await (await t.get("/api/v1/hosts")).json()) as { hosts: { hostname: string; ingestAuth: string | null }[] }).hosts;
    expect(Object.fromEntries(hosts.map((h) => [h.hostname, h.ingestAuth]))).toEqual({ "own-token-host": "host", "shared-token-host": "shared" });
    // The host moves to its own token: the view follows the latest batch that stored something.
    expect((await t.post([suite.v2({ hostname: "shared-token-host", seq: 2, command: "s2" })], { AccessToken: tokenOf("shared-token-host") })).status).toBe(200);
    const after = ((await (await t.get("/api/v1/hosts")).json()) as { hosts: { hostname: string; ingestAuth: string | null }[] }).hosts;
    expect(after.every((h) => h.ingestAuth === "host")).toBe(true);
  });
});

describe("what GET /api/v1/hosts says of each host's batches", () => {
  test("losses stored, records refused from its own token, and the reporter (User-Agent) of the latest batch that stored something", async () => {
    const t = await hostApp();
    const web1 = tokenOf("web-1.example.com");
    const ua = { "User-Agent": "cmdaudit-reporter/9.9.9\u0007" };
    const first = await t.post([
      suite.v2({ hostname: "web-1.example.com", sessionId: "h", seq: 1, command: "one" }),
      suite.v2({ hostname: "web-1.example.com", sessionId: "h", seq: 2, kind: "loss", command: "cmdaudit hook: 2 record(s) could not be written to the log" }),
      suite.v2({ hostname: "db-1.example.com", sessionId: "x", seq: 1, command: "not mine" }),
    ], { AccessToken: web1, ...ua });
    expect(((await first.json()) as IngestAnswer).rejected.length).toBe(1);
    // The same batch again: nothing new, so neither the losses nor the reporter change; the refusal counts again.
    await t.post([
      suite.v2({ hostname: "web-1.example.com", sessionId: "h", seq: 2, kind: "loss", command: "cmdaudit hook: 2 record(s) could not be written to the log" }),
      suite.v2({ hostname: "db-1.example.com", sessionId: "x", seq: 1, command: "not mine" }),
    ], { AccessToken: web1, "User-Agent": "curl/8.0" });
    const res = await t.get("/api/v1/hosts");
    const hosts = ((await res.json()) as { hosts: { hostname: string; losses: number; rejected: number; reporter: string | null }[] }).hosts;
    expect(hosts.map((h) => [h.hostname, h.losses, h.rejected, h.reporter])).toEqual([["web-1.example.com", 1, 2, "cmdaudit-reporter/9.9.9"]]);
    // A shared token's refusals are no host's; a raw batch from the sh reporter names it.
    const s = await hostApp({ shared: true });
    await s.post([suite.v2({ hostname: "web-2", sessionId: "y", seq: 1, command: "ok" }), { hostname: "web-2" }], { AccessToken: INGEST_TOKEN });
    await s.postRaw(enc(suite.hook({ hostname: "web-2", sessionId: "y", seq: 2, kind: "loss", command: "lost 1" })), "", { Authorization: `Bearer ${INGEST_TOKEN}`, "User-Agent": "cmdaudit-reporter-sh" });
    const h2 = ((await (await s.get("/api/v1/hosts")).json()) as { hosts: { hostname: string; losses: number; rejected: number; reporter: string | null }[] }).hosts;
    expect(h2.map((h) => [h.hostname, h.losses, h.rejected, h.reporter])).toEqual([["web-2", 1, 0, "cmdaudit-reporter-sh"]]);
  });
});
