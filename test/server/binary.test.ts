/** The compiled server (server/build.ts): migrations embedded, runs from any directory, on MariaDB and SQLite. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildServer } from "../../server/build.ts";
import { INGEST_TOKEN, READ_TOKEN } from "../support/config.ts";
import { createTestDatabase } from "../support/mysql.ts";

let bin: string;
beforeAll(async () => {
  bin = await buildServer(join(mkdtempSync(join(tmpdir(), "cmdaudit-srvbin-")), "cmdaudit-server"));
}, 120_000);

async function startBinary(env: Record<string, string>) {
  const cwd = mkdtempSync(join(tmpdir(), "cmdaudit-srvcwd-")); // no source tree around it
  const proc = Bun.spawn([bin], {
    cwd, stdout: "pipe", stderr: "pipe",
    env: { PATH: "/usr/bin:/bin", CMDAUDIT_PORT: "0", CMDAUDIT_INGEST_TOKENS: INGEST_TOKEN, CMDAUDIT_READ_TOKENS: READ_TOKEN, CMDAUDIT_DATA_DIR: join(cwd, "data"), ...env },
  });
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${await new Response(proc.stderr).text()}`);
    text += new TextDecoder().decode(value);
    const url = /"msg":"listening","url":"([^"]+)"/.exec(text)?.[1];
    if (url) return { url, proc };
  }
  proc.kill();
  throw new Error("server did not listen");
}

describe("cmdaudit-server binary", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => { db = await createTestDatabase("srvbin"); });
  afterAll(async () => { await db?.drop(); });

  test.each(["mysql", "sqlite"])("applies its embedded migrations on %s and serves ingest + query", async (dialect) => {
    const { url, proc } = await startBinary(dialect === "mysql" ? { CMDAUDIT_DATABASE_URL: db.url } : {});
    try {
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const post = await fetch(`${url}/api/v1/commands`, {
        method: "POST", headers: { AccessToken: INGEST_TOKEN },
        body: JSON.stringify([{ ctime: "2026-11-26T10:00:00+08:00", hostname: "bin-host", luser: "alice", sessionId: "b", seq: 1, command: "uptime" }]),
      });
      expect(((await post.json()) as { accepted: number }).accepted).toBe(1);
      const got = (await (await fetch(`${url}/api/v1/commands?host=bin-host`, { headers: { AccessToken: READ_TOKEN } })).json()) as { items: { command: string }[] };
      expect(got.items.map((i) => i.command)).toEqual(["uptime"]);
      // The backtest's matcher runs in a worker: the binary carries it.
      const bt = await fetch(`${url}/api/v1/rules/test`, { method: "POST", headers: { AccessToken: READ_TOKEN, "Content-Type": "application/json" }, body: JSON.stringify({ rule: { id: "up", command: "uptime" } }) });
      expect(await bt.json()).toMatchObject({ scanned: 1, matched: 1, complete: true });
      // The console's assets are inside the binary.
      expect(await (await fetch(`${url}/assets/console.js`)).text()).toContain("cmdaudit-tz");
      expect((await fetch(`${url}/login`)).status).toBe(200);
    } finally {
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  }, 60_000);

  test("serves the OpenAPI document and the API reference page with its embedded script", async () => {
    const { url, proc } = await startBinary({});
    try {
      const doc = await fetch(`${url}/api/v1/openapi.json`);
      expect(doc.status).toBe(200);
      const d = (await doc.json()) as { openapi: string; info: { version: string }; paths: Record<string, unknown> };
      expect(d.openapi).toBe("3.1.0");
      expect(d.info.version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(Object.keys(d.paths)).toContain("/api/v1/ingest/raw");
      const page = await fetch(`${url}/api/docs`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('src="/api/docs/scalar.js"');
      const js = await fetch(`${url}/api/docs/scalar.js`);
      expect(js.status).toBe(200);
      expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
      const script = await js.text();
      expect(script.length).toBeGreaterThan(1_000_000);
      expect(script).toContain("createApiReference");
    } finally {
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  }, 60_000);

  test("--version prints the embedded package version", () => {
    const r = Bun.spawnSync([bin, "--version"], { stdout: "pipe" });
    expect(r.stdout.toString()).toMatch(/^cmdaudit-server \d+\.\d+\.\d+\n$/);
  });
});
