/**
 * Tokens: both scopes, both headers, sha256: digests, and one 401 body whatever the reason.
 * In-process: createApp() on a real SQLite store through app.request(); every test's log lines are
 * checked for tokens, commands and query values (RouteSuite).
 */
import { describe, expect, test } from "bun:test";
import { testConfig } from "../support/config.ts";
import { INGEST_TOKEN, READ_TOKEN, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();

describe("auth", () => {
  const UNAUTHORIZED = { code: 401, msg: "unauthorized" };
  const WRONG = "wrong-token-0123456789abcdef";
  suite.secrets.add(WRONG);

  async function expect401(res: Response) {
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual(UNAUTHORIZED);
    return text;
  }

  test("no token, a wrong token, or the other scope's token → 401 that says only unauthorized", async () => {
    const t = await suite.newApp();
    const body = JSON.stringify([suite.v2({ sessionId: "auth", seq: 1, command: "auth-should-not-store" })]);
    const post = (h: Record<string, string>) => t.app.request("/api/v1/commands", { method: "POST", headers: { "Content-Type": "application/json", ...h }, body });
    const raw = (h: Record<string, string>) => t.app.request("/api/v1/ingest/raw", { method: "POST", headers: h, body: "x\n" });
    const get = (p: string, h: Record<string, string>) => t.app.request(p, { headers: h });
    const bodies = new Set<string>();
    const refused: Record<string, string>[] = [{}, { AccessToken: WRONG }, { Authorization: `Bearer ${WRONG}` }, { AccessToken: READ_TOKEN },
      { Authorization: `Bearer ${READ_TOKEN}` }, { AccessToken: "" }, { Authorization: INGEST_TOKEN }, { Authorization: `Basic ${btoa("u:" + INGEST_TOKEN)}` }];
    for (const h of refused) {
      bodies.add(await expect401(await post(h)));
      bodies.add(await expect401(await raw(h)));
    }
    for (const p of ["/api/v1/commands", "/api/v1/hosts", "/metrics", "/api/v1/commands?format=csv"]) {
      const notRead: Record<string, string>[] = [{}, { AccessToken: WRONG }, { AccessToken: INGEST_TOKEN }, { Authorization: `Bearer ${INGEST_TOKEN}` }];
      for (const h of notRead) {
        bodies.add(await expect401(await get(p, h)));
      }
    }
    expect(bodies.size).toBe(1); // the same bytes whatever the reason
    expect((await t.all()).length).toBe(0);
  });

  test("Authorization: Bearer and AccessToken both work for both scopes", async () => {
    const t = await suite.newApp();
    const body = (seq: number) => JSON.stringify([suite.v2({ sessionId: "hdr", seq })]);
    const h = { "Content-Type": "application/json" };
    expect((await t.app.request("/api/v1/commands", { method: "POST", headers: { ...h, AccessToken: INGEST_TOKEN }, body: body(1) })).status).toBe(200);
    expect((await t.app.request("/api/v1/commands", { method: "POST", headers: { ...h, Authorization: `Bearer ${INGEST_TOKEN}` }, body: body(2) })).status).toBe(200);
    expect((await t.app.request("/api/v1/commands", { method: "POST", headers: { ...h, Authorization: `bearer ${INGEST_TOKEN}` }, body: body(3) })).status).toBe(200);
    for (const p of ["/api/v1/commands", "/api/v1/hosts", "/metrics"]) {
      expect((await t.app.request(p, { headers: { AccessToken: READ_TOKEN } })).status).toBe(200);
      expect((await t.app.request(p, { headers: { Authorization: `Bearer ${READ_TOKEN}` } })).status).toBe(200);
    }
    expect((await t.all()).length).toBe(3);
  });

  test("a sha256:<hex> configured token accepts the token, not the digest itself", async () => {
    const ingest = "hashed-ingest-token-ABCDEFGHIJ";
    const read = "hashed-read-token-KLMNOPQRSTUV";
    suite.secrets.add(ingest).add(read);
    const hex = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
    const t = await suite.newApp({ tokens: { ...testConfig().tokens, ingest: [`sha256:${hex(ingest)}`], read: [`sha256:${hex(read)}`, READ_TOKEN] } });
    const post = (tok: string) => t.app.request("/api/v1/commands", { method: "POST", headers: { AccessToken: tok }, body: JSON.stringify([suite.v2({ sessionId: "sha", seq: 1 })]) });
    expect((await post(ingest)).status).toBe(200);
    await expect401(await post(`sha256:${hex(ingest)}`));
    await expect401(await post(hex(ingest)));
    await expect401(await post(INGEST_TOKEN)); // no longer configured
    expect((await t.app.request("/api/v1/commands", { headers: { Authorization: `Bearer ${read}` } })).status).toBe(200);
    expect((await t.app.request("/api/v1/commands", { headers: { Authorization: `Bearer ${READ_TOKEN}` } })).status).toBe(200);
  });

  test("a malformed sha256: entry (a truncated digest) never turns requests into 500s", async () => {
    const { configSchema } = await import("../../server/src/config.ts");
    const { createApp } = await import("../../server/src/app.ts");
    const truncated = `sha256:${"ab".repeat(31)}c`; // 63 hex digits
    // Refused by the config validation, naming the key…
    const parsed = configSchema.safeParse({ tokens: { ingest: [truncated, INGEST_TOKEN], read: [READ_TOKEN] } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join("."))).toEqual(["tokens.ingest.0"]);
    // …and an app given one anyway (config built in code) either refuses to start or keeps serving the valid tokens.
    const base = await suite.newApp();
    const config = { ...testConfig(), tokens: { ...testConfig().tokens, ingest: [truncated, INGEST_TOKEN], read: [READ_TOKEN] } };
    let app: ReturnType<typeof createApp> | undefined;
    try { app = createApp({ store: base.store, config }); } catch { app = undefined; }
    if (app) {
      const res = await app.request("/api/v1/commands", { method: "POST", headers: { AccessToken: INGEST_TOKEN }, body: "[]" });
      expect(res.status).toBe(200);
      expect((await app.request("/api/v1/commands", { method: "POST", headers: { AccessToken: WRONG }, body: "[]" })).status).toBe(401);
    }
  });
});
