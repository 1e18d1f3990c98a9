/**
 * The OpenAPI document (/api/v1/openapi.json) against the server that serves it: every route is
 * in it and nothing else, a token is required wherever it says so, Redocly's recommended rules
 * pass, and real answers (each documented status of each operation) validate against it.
 * Also the API reference page (/api/docs) and its local script.
 */
import { beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import { encodeRecord } from "../../protocol/index.ts";
import type { AppDeps } from "../../server/src/app.ts";
import { consoleRoutes } from "../../server/src/console/routes.tsx";
import type { Store } from "../../server/src/db/store.ts";
import { DOCS_PATH, DOCUMENT_PATH, SCRIPT_PATH } from "../../server/src/docs/index.ts";
import { type Contract, contractOf, type OpenApiDocument } from "./contract.ts";
import { ADMIN_TOKEN, INGEST_TOKEN, limits, READ_TOKEN, RouteSuite, type TestApp } from "./helpers.ts";

const suite = new RouteSuite();

async function documentOf(t: TestApp): Promise<OpenApiDocument> {
  const res = await t.app.request(DOCUMENT_PATH);
  expect(res.status).toBe(200);
  return (await res.json()) as OpenApiDocument;
}

const operations = (doc: OpenApiDocument) =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, op })));

let t: TestApp;
let doc: OpenApiDocument;
let contract: Contract;
beforeAll(async () => {
  t = await suite.newApp();
  doc = await documentOf(t);
  contract = contractOf(doc);
});

describe("the OpenAPI document", () => {
  test("is OpenAPI 3.1 with the package version", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const pkg = (await Bun.file(new URL("../../package.json", import.meta.url)).json()) as { version: string };
    expect((doc as unknown as { info: { version: string } }).info.version).toBe(pkg.version);
  });

  test("lists every route the app serves, and no other", () => {
    // The document and the reference page describe the API; they are not part of it.
    const aboutTheApi = new Set([DOCUMENT_PATH, DOCS_PATH, SCRIPT_PATH]);
    // The console's pages (server/src/console/) are for people with a browser session, not the API.
    const consolePages = new Set(consoleRoutes({} as AppDeps).routes.map((r) => `${r.method} ${r.path}`));
    const served = new Set(t.app.routes
      .filter((r) => r.method !== "ALL" && !aboutTheApi.has(r.path.replace(/\/$/, "")) && !consolePages.has(`${r.method} ${r.path}`))
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`));
    const documented = operations(doc).map((o) => `${o.method} ${o.path}`);
    expect(documented.length).toBeGreaterThanOrEqual(7);
    expect(documented.sort()).toEqual([...served].sort());
  });

  test("every operation has an operationId, and every one but the health checks a token", async () => {
    const schemes = Object.keys(doc.components?.securitySchemes ?? {});
    expect(schemes.sort()).toEqual(["accessToken", "bearer"]);
    const ids = new Set<string>();
    for (const { method, path, op } of operations(doc)) {
      expect(op.operationId).toBeString();
      ids.add(op.operationId!);
      const health = op.tags?.includes("health") ?? false;
      if (health) expect({ path, security: op.security }).toEqual({ path, security: [] });
      else {
        expect({ path, security: op.security?.flatMap(Object.keys).sort() }).toEqual({ path, security: schemes.sort() });
        expect({ path, has401: "401" in op.responses }).toEqual({ path, has401: true });
      }
      // What the document says is what the server does: no token → 401 exactly where one is required.
      const res = await t.app.request(path, { method, body: method === "POST" ? "[]" : undefined });
      expect({ method, path, unauthorized: res.status === 401 }).toEqual({ method, path, unauthorized: !health });
    }
    expect(ids.size).toBe(operations(doc).length);
  });

  test("follows the config: public metrics are documented without a token", async () => {
    const open = await suite.newApp({ ...t.config, metrics_public: true });
    const op = (await documentOf(open)).paths["/metrics"]!.get!;
    expect(op.security).toEqual([]);
    expect(Object.keys(op.responses)).toEqual(["200"]);
    expect((await open.app.request("/metrics")).status).toBe(200);
  });

  test("passes Redocly's recommended rules", async () => {
    const config = await createConfig({
      extends: ["recommended"],
      // The project has no licence file to name.
      rules: { "info-license": "off" },
    });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: "openapi.json", config });
    const found = problems
      .map((p) => ({ rule: p.ruleId, at: p.location[0]?.pointer ?? "", message: p.message }))
      // /healthz and /readyz take no input and no token: they have no 4xx answer to document.
      .filter((p) => !(p.rule === "operation-4xx-response" && /^#\/paths\/~1(healthz|readyz)\//.test(p.at)));
    expect(found).toEqual([]);
  });
});

describe("real answers validate against the document", () => {
  // Each test covers the operations it names here, every documented status of each (so each test runs alone).
  const COVERED = ["GET /healthz", "GET /readyz", "POST /api/v1/commands", "POST /api/v1/ingest/raw", "GET /api/v1/commands", "GET /api/v1/hosts", "GET /api/v1/sessions", "GET /metrics", "GET /api/v1/rules", "POST /api/v1/rules/test",
    "PUT /api/v1/rules/{id}", "DELETE /api/v1/rules/{id}", "GET /api/v1/alerts"];
  const seen = new Set<string>();
  beforeEach(() => seen.clear());
  const check = async (method: string, path: string, res: Response) => {
    seen.add(`${method} ${path} ${res.status}`);
    await contract.checkAnswer(method, path, res);
  };
  const expectEveryStatusSeen = (...ops: string[]) => {
    const documented = operations(doc).filter(({ method, path }) => ops.includes(`${method} ${path}`))
      .flatMap(({ method, path, op }) => Object.keys(op.responses).map((s) => `${method} ${path} ${s}`));
    expect(documented.length).toBeGreaterThanOrEqual(ops.length);
    expect([...seen].sort()).toEqual(documented.sort());
  };

  test("the tests below cover every operation of the document", () => {
    expect([...COVERED].sort()).toEqual(operations(doc).map(({ method, path }) => `${method} ${path}`).sort());
  });
  const down = (s: Store) => Object.assign(Object.create(s) as Store, {
    ping: () => Promise.reject(new Error("ECONNREFUSED")),
    insert: () => Promise.reject(new Error("ECONNREFUSED")),
  });
  const record = (seq: number) => suite.v2({ sessionId: "contract", seq, hostname: "contract-host" });
  const hookLine = (seq: number) => encodeRecord(suite.hook({ sessionId: "contract-raw", seq, hostname: "contract-raw-host" }));

  test("health", async () => {
    await check("GET", "/healthz", await t.app.request("/healthz"));
    await check("GET", "/readyz", await t.app.request("/readyz"));
    const broken = await suite.newApp({}, down);
    await check("GET", "/readyz", await broken.app.request("/readyz"));
    expectEveryStatusSeen("GET /healthz", "GET /readyz");
  });

  test("POST /api/v1/commands: stored and rejected, 400, 401, 413, 415, 429, 503", async () => {
    const p = "/api/v1/commands";
    await check("POST", p, await t.post([record(1), record(2), { ...record(3), exitStatus: 999 }]));
    await check("POST", p, await t.post("[{"));
    await check("POST", p, await t.app.request(p, { method: "POST", body: "[]" }));
    const small = await suite.newApp({ ...t.config, limits: limits({ max_records_per_batch: 1 }) });
    await check("POST", p, await small.post([record(4), record(5)]));
    await check("POST", p, await t.post(gzipSync("[]"), { "Content-Encoding": "br" }));
    const slow = await suite.newApp({ ...t.config, limits: limits({ ingest_requests_per_minute: 1 }) });
    await slow.post([record(7)]);
    await check("POST", p, await slow.post([record(8)]));
    const broken = await suite.newApp({}, down);
    await check("POST", p, await broken.post([record(6)]));
    expectEveryStatusSeen(`POST ${p}`);
  });

  test("POST /api/v1/ingest/raw: stored, damaged and foreign lines, 400, 401, 413, 415, 429, 503", async () => {
    const p = "/api/v1/ingest/raw";
    await check("POST", p, await t.postRaw(`${hookLine(1)}\nthis is bash history\n${hookLine(2).slice(0, 30)}\n${hookLine(3)}\n`, "?final=1"));
    await check("POST", p, await t.postRaw(`${hookLine(4)}\n`, "?giveUp=soon"));
    await check("POST", p, await t.postRaw(`${hookLine(4)}\n`, "?utcOffset=8"));
    await check("POST", p, await t.app.request(p, { method: "POST", body: "x\n" }));
    const small = await suite.newApp({ ...t.config, limits: limits({ max_body_bytes: 64 }) });
    await check("POST", p, await small.postRaw(`${hookLine(5)}\n`));
    await check("POST", p, await t.postRaw(`${hookLine(5)}\n`, "", { "Content-Encoding": "br" }));
    const slow = await suite.newApp({ ...t.config, limits: limits({ ingest_requests_per_minute: 1 }) });
    await slow.postRaw(`${hookLine(7)}\n`);
    await check("POST", p, await slow.postRaw(`${hookLine(8)}\n`));
    const broken = await suite.newApp({}, down);
    await check("POST", p, await broken.postRaw(`${hookLine(6)}\n`));
    expectEveryStatusSeen(`POST ${p}`);
  });

  test("GET /api/v1/commands: a page, an ndjson and a csv export, 400, 401", async () => {
    const p = "/api/v1/commands";
    expect((await t.post([record(10), { ...record(11), command: undefined, commandB64: Buffer.from([0x66, 0xff]).toString("base64") }])).status).toBe(200);
    await check("GET", p, await t.get(`${p}?limit=2`));
    const ndjson = await t.get(`${p}?format=ndjson`);
    // The document can only say "a string" of an ndjson body (OpenAPI 3.1); each line is a Record.
    const lines = (await ndjson.clone().text()).split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) contract.checkComponent("Record", JSON.parse(l));
    await check("GET", p, ndjson);
    await check("GET", p, await t.get(p, { Accept: "text/csv" }));
    await check("GET", p, await t.get(`${p}?hostname=x`));
    await check("GET", p, await t.get(`${p}?limit=100000`));
    await check("GET", p, await t.app.request(p));
    expectEveryStatusSeen(`GET ${p}`);
  });

  test("GET /api/v1/sessions: a page, 400, 401", async () => {
    expect((await t.post([record(40), record(41)])).status).toBe(200);
    await check("GET", "/api/v1/sessions", await t.get("/api/v1/sessions?host=contract-host&limit=1"));
    await check("GET", "/api/v1/sessions", await t.get("/api/v1/sessions"));
    await check("GET", "/api/v1/sessions", await t.app.request("/api/v1/sessions?host=contract-host"));
    expectEveryStatusSeen("GET /api/v1/sessions");
  });

  test("GET /api/v1/rules and POST /api/v1/rules/test: 200, 400, 401", async () => {
    await check("GET", "/api/v1/rules", await t.get("/api/v1/rules"));
    await check("GET", "/api/v1/rules", await t.app.request("/api/v1/rules"));
    const bt = (body: unknown, auth = true) => t.app.request("/api/v1/rules/test", {
      method: "POST", headers: { "Content-Type": "application/json", ...(auth ? { Authorization: `Bearer ${READ_TOKEN}` } : {}) }, body: JSON.stringify(body),
    });
    expect((await t.post([record(50)])).status).toBe(200);
    await check("POST", "/api/v1/rules/test", await bt({ builtin: "destroy.rm-root", examples: 1 }));
    await check("POST", "/api/v1/rules/test", await bt({ rule: { id: "any", regex: "." }, examples: 1 }));
    await check("POST", "/api/v1/rules/test", await bt({ builtin: "nope" }));
    await check("POST", "/api/v1/rules/test", await bt({ builtin: "destroy.rm-root" }, false));
    expectEveryStatusSeen("GET /api/v1/rules", "POST /api/v1/rules/test");
  });

  test("PUT and DELETE /api/v1/rules/{id}: 200, 400, 401, 404, 409", async () => {
    const admin = { AccessToken: ADMIN_TOKEN, "Content-Type": "application/json" };
    const put = (id: string, body: unknown, headers: Record<string, string> = admin) =>
      t.app.request(`/api/v1/rules/${id}`, { method: "PUT", headers, body: JSON.stringify(body) });
    const del = (id: string, headers: Record<string, string> = admin) => t.app.request(`/api/v1/rules/${id}`, { method: "DELETE", headers });
    await check("PUT", "/api/v1/rules/{id}", await put("r-1", { id: "r-1", command: "reboot" }));
    await check("PUT", "/api/v1/rules/{id}", await put("r-1", { id: "r-1", regex: "(a+)+" }));
    await check("PUT", "/api/v1/rules/{id}", await put("r-1", { id: "r-1", command: "reboot" }, { AccessToken: READ_TOKEN }));
    await check("PUT", "/api/v1/rules/{id}", await put("destroy.mkfs", { id: "destroy.mkfs", command: "mkfs" }));
    await check("DELETE", "/api/v1/rules/{id}", await del("r-1"));
    await check("DELETE", "/api/v1/rules/{id}", await del("r-1"));
    await check("DELETE", "/api/v1/rules/{id}", await del("r-1", { AccessToken: READ_TOKEN }));
    await check("DELETE", "/api/v1/rules/{id}", await del("destroy.mkfs"));
    expectEveryStatusSeen("PUT /api/v1/rules/{id}", "DELETE /api/v1/rules/{id}");
  });

  test("GET /api/v1/alerts: 200, 400, 401", async () => {
    await t.post([suite.v2({ sessionId: "contract-alert", seq: 1, hostname: "contract-host", command: "rm -rf /" })]);
    const res = await t.get("/api/v1/alerts?limit=1");
    await check("GET", "/api/v1/alerts", res);
    await check("GET", "/api/v1/alerts", await t.get("/api/v1/alerts?severity=loud"));
    await check("GET", "/api/v1/alerts", await t.app.request("/api/v1/alerts"));
    expectEveryStatusSeen("GET /api/v1/alerts");
  });

  test("GET /api/v1/hosts and /metrics: 200, 401", async () => {
    await check("GET", "/api/v1/hosts", await t.get("/api/v1/hosts"));
    await check("GET", "/api/v1/hosts", await t.app.request("/api/v1/hosts"));
    await check("GET", "/metrics", await t.get("/metrics"));
    await check("GET", "/metrics", await t.app.request("/metrics"));
    expectEveryStatusSeen("GET /api/v1/hosts", "GET /metrics");
  });

  test("404 (no route) is the error envelope", async () => {
    const res = await t.get("/api/v1/nothing-here");
    expect(res.status).toBe(404);
    contract.checkComponent("Error", await res.json());
  });

  test("the checker fails answers the document does not allow", async () => {
    const answer = (status: number, body: unknown, type = "application/json") =>
      new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "Content-Type": type } });
    const good = { code: 0, msg: "ok", accepted: 1, duplicates: 0, rejected: [], ignored: 0, consumed: 10 };
    await contract.checkAnswer("POST", "/api/v1/ingest/raw", answer(200, good));
    const bad: [string, Response][] = [
      ["a negative count", answer(200, { ...good, accepted: -1 })],
      ["a missing field", answer(200, { ...good, consumed: undefined })],
      ["code not 0", answer(200, { ...good, code: 1 })],
      ["a rejected entry without its error", answer(200, { ...good, rejected: [{ line: 1 }] })],
      ["an undocumented status", answer(418, { code: 418, msg: "teapot" })],
      ["an undocumented content type", answer(200, "ok", "text/plain")],
      ["an error without msg", answer(400, { code: 400 })],
    ];
    for (const [what, res] of bad) {
      expect({ what, threw: await contract.checkAnswer("POST", "/api/v1/ingest/raw", res).then(() => false, () => true) }).toEqual({ what, threw: true });
    }
    await expect(contract.checkAnswer("DELETE", "/api/v1/hosts", answer(200, {}))).rejects.toThrow(/no such operation/);
    expect(() => contract.checkComponent("Error", { code: "400", msg: "x" })).toThrow();
  });
});

describe("the API reference page", () => {
  test(`${DOCS_PATH} is HTML that loads its script from this server and points at the document`, async () => {
    const res = await t.app.request(DOCS_PATH);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    const sources = [...html.matchAll(/<script[^>]*\ssrc="([^"]*)"/g)].map((m) => m[1]);
    expect(sources).toEqual([SCRIPT_PATH]);
    expect(html).toContain(JSON.stringify(DOCUMENT_PATH));
    expect(html).not.toMatch(/<link[^>]+href="https?:/);
  });

  test(`${SCRIPT_PATH} is the Scalar bundle, served as JavaScript`, async () => {
    const res = await t.app.request(SCRIPT_PATH);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/javascript/);
    const js = await res.text();
    expect(js.length).toBeGreaterThan(1_000_000);
    expect(js).toContain("createApiReference");
  });

  test("the document and the page need no token and carry no token", async () => {
    for (const p of [DOCUMENT_PATH, DOCS_PATH]) {
      const text = await (await t.app.request(p)).text();
      expect(text).not.toContain(INGEST_TOKEN);
      expect(text).not.toContain(READ_TOKEN);
    }
  });
});
