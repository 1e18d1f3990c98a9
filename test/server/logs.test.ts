/**
 * Request logging: one JSON line per request, with method, path, route and status, and never a
 * token, a command or a query value, whatever the route and whether it succeeded or failed.
 */
import { expect, test } from "bun:test";
import type { Store } from "../../server/src/db/store.ts";
import { INGEST_TOKEN, READ_TOKEN, RouteSuite, secretLeaks } from "./helpers.ts";

const suite = new RouteSuite();

test("the leak check of these tests finds a secret as is, JSON-escaped and URL-encoded", () => {
  const secret = "pass\"word with spaces/ü";
  expect(secretLeaks([`{"msg":"${secret}"}`], [secret]).length).toBe(1);
  expect(secretLeaks([JSON.stringify({ msg: secret })], [secret]).length).toBe(1);
  expect(secretLeaks([JSON.stringify({ path: "/x?" + encodeURIComponent(secret) })], [secret]).length).toBe(1);
  expect(secretLeaks([JSON.stringify({ msg: "nothing here" })], [secret])).toEqual([]);
});

test("every request was logged, and no log line holds a token, a command or a query value", async () => {
  const t = await suite.newApp();
  const failing = await suite.newApp({}, (s) => Object.assign(Object.create(s) as Store, {
    insert: () => Promise.reject(new Error("insert of 'log-secret-cmd-failing' failed")),
  }));
  const wrong = "wrong-token-for-the-log-test";
  suite.secret(wrong, "log-secret-cmd-failing");
  const requests: [string, () => Promise<Response>][] = [
    ["/api/v1/commands", () => t.post([suite.v2({ sessionId: "log", seq: 1, command: "log-secret-cmd-json" })])],
    ["/api/v1/commands", () => t.post("[{\"command\": \"log-secret-cmd-broken\"")],
    ["/api/v1/commands", () => t.post([suite.v2({ sessionId: "log", seq: 2, command: "log-secret-cmd-refused" })], { AccessToken: wrong })],
    ["/api/v1/ingest/raw", () => t.postRaw("CA1\tR\tlog-secret-cmd-damaged\n")],
    ["/api/v1/commands", () => t.get(`/api/v1/commands?${suite.qs({ q: "log-secret-query", host: "log-secret-host" })}`)],
    ["/api/v1/commands", () => t.get(`/api/v1/commands?${suite.qs({ q: "log-secret-csv", format: "csv" })}`)],
    ["/api/v1/commands", () => t.get(`/api/v1/commands?${suite.qs({ cursor: "log-secret-cursor" })}`)],
    ["/api/v1/hosts", () => t.get("/api/v1/hosts", { Authorization: `Bearer ${INGEST_TOKEN}` })],
    ["/metrics", () => t.get("/metrics")],
    ["/healthz", async () => t.app.request("/healthz")],
    ["/api/v1/nope", () => t.get(`/api/v1/nope?${suite.qs({ token: READ_TOKEN })}`)],
    ["/api/v1/commands", () => failing.post([suite.v2({ sessionId: "log", seq: 3, command: "log-secret-cmd-failing" })])],
  ];
  suite.secret("log-secret-cmd-broken", "log-secret-cmd-damaged");
  const before = suite.logs.length;
  const statuses: number[] = [];
  for (const [, send] of requests) statuses.push((await send()).status);
  const lines = suite.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
  const requestLines = lines.filter((l) => l.msg === "request");
  expect(requestLines.map((l) => [l.path, l.status])).toEqual(requests.map(([path], i) => [path, statuses[i]]));
  for (const l of requestLines) {
    expect(typeof l.method).toBe("string");
    expect(typeof l.route).toBe("string");
    expect(typeof l.ms).toBe("number");
  }
  expect(statuses).toContain(401);
  expect(statuses).toContain(503);
  expect(secretLeaks(suite.logs.slice(before), suite.secrets)).toEqual([]);
});
