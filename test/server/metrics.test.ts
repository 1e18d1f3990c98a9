/**
 * /metrics: the record counters and who may read them.
 * In-process: createApp() on a real SQLite store through app.request(); every test's log lines are
 * checked for tokens, commands and query values (RouteSuite).
 */
import { describe, expect, test } from "bun:test";
import { encodeRecord } from "../../protocol/index.ts";
import { type IngestAnswer, json, recordCounters, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();

describe("/metrics", () => {
  test("metrics: accepted/duplicate/rejected counters match the answers", async () => {
    const t = await suite.newApp();
    const sum = { accepted: 0, duplicate: 0, rejected: 0 };
    const add = (a: IngestAnswer) => { sum.accepted += a.accepted; sum.duplicate += a.duplicates; sum.rejected += a.rejected.length; };
    add(await json<IngestAnswer>(await t.post([suite.v2({ sessionId: "m", seq: 1 }), suite.v2({ sessionId: "m", seq: 2 }), { bad: 1 }])));
    add(await json<IngestAnswer>(await t.post([suite.v2({ sessionId: "m", seq: 1 }), suite.v2({ sessionId: "m", seq: 3 }), 7, "x"])));
    const line = Buffer.from(encodeRecord({ kind: "command", ctime: "2024-01-01T00:00:00+00:00", hostname: "mh", serverIps: "", suser: "", luser: "u", terminal: "", clientIp: "", sessionId: "mraw", seq: 1, cwd: "/", exitStatus: 0, command: "metrics-raw" }));
    suite.secrets.add("metrics-raw");
    add(await json<IngestAnswer>(await t.postRaw(Buffer.concat([line, line, Buffer.from("CA1\tR\tbroken\n")]))));
    expect(sum).toEqual({ accepted: 4, duplicate: 2, rejected: 4 });
    // Refused requests count nothing.
    await t.post("not json");
    await t.post([suite.v2({ sessionId: "m", seq: 9 })], { AccessToken: "nope-nope-nope-nope" });
    const res = await t.get("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(recordCounters(text)).toEqual(sum);
    expect(text).toMatch(/^cmdaudit_http_requests_total\{method="POST",route="[^"]*",status="401"\} 1$/m);
    expect(text).toMatch(/^cmdaudit_ingest_duration_seconds_count 3$/m);
  });

  test("metrics_public serves /metrics without a token, and only /metrics", async () => {
    const t = await suite.newApp({ metrics_public: true });
    expect((await t.app.request("/metrics")).status).toBe(200);
    expect((await t.app.request("/api/v1/hosts")).status).toBe(401);
    expect((await t.app.request("/api/v1/commands")).status).toBe(401);
  });
});
