/**
 * GET /api/v1/rules and POST /api/v1/rules/test through app.request() on a real SQLite store: the
 * rules in force, a rule run over stored history with exact counts per day, the bounds, and a regex
 * too slow for the text it meets stopped without stopping the server.
 */
import { expect, test } from "bun:test";
import type { BacktestAnswer } from "../../protocol/http.ts";
import { BUILTIN_RULES } from "../../server/src/alerts/builtin-rules.ts";
import { ruleSchema } from "../../server/src/alerts/rules.ts";
import { configSchema } from "../../server/src/config.ts";
import { cat, enc, type IngestAnswer, json, makeApp, READ_TOKEN, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();

const post = (t: Awaited<ReturnType<typeof suite.newApp>>, body: unknown) =>
  t.app.request("/api/v1/rules/test", { method: "POST", headers: { Authorization: `Bearer ${READ_TOKEN}`, "Content-Type": "application/json" }, body: JSON.stringify(body) });

/** Two days of commands on two hosts: 3 `rm -rf /` (one on each day of web-1, one on db-1), reboots, look-alikes. */
async function seeded(t: Awaited<ReturnType<typeof suite.newApp>>) {
  const day = (d: number, s: number) => `2024-03-0${d}T10:00:${String(s).padStart(2, "0")}+00:00`;
  const body = cat(
    enc(suite.hook({ hostname: "web-1", sessionId: "a", seq: 1, ctime: day(1, 1), command: "sudo rm -rf /" })),
    enc(suite.hook({ hostname: "web-1", sessionId: "a", seq: 2, ctime: day(1, 2), command: "rm -rf /tmp/x" })),
    enc(suite.hook({ hostname: "web-1", sessionId: "a", seq: 3, ctime: day(1, 3), command: "echo rm -rf /" })),
    enc(suite.hook({ hostname: "web-1", sessionId: "b", seq: 1, ctime: day(2, 1), command: "cd / && rm -fr /*" })),
    enc(suite.hook({ hostname: "web-1", sessionId: "b", seq: 2, ctime: day(2, 2), command: "sudo /sbin/reboot" })),
    enc(suite.hook({ hostname: "web-1", sessionId: "b", seq: 3, ctime: day(2, 3), command: "vim reboot.txt" })),
    enc(suite.hook({ hostname: "db-1", sessionId: "c", seq: 1, ctime: day(2, 4), command: "rm -r -f /" })),
  );
  expect((await json<IngestAnswer>(await t.postRaw(body))).accepted).toBe(7);
}

test("the rules in force: every built-in not turned off, then the config's enabled ones", async () => {
  const t = await suite.newApp({
    alerts: configSchema.parse({ alerts: { rules: [{ id: "reboot", command: "reboot", severity: "critical" }, { id: "off", command: "ls", enabled: false }], disabled_builtins: ["destroy.mkfs"] } }).alerts,
  });
  const res = await t.get("/api/v1/rules");
  const rules = (await json<{ rules: { id: string; builtin: boolean; severity: string }[] }>(res)).rules;
  expect(rules.map((r) => r.id)).toEqual([...BUILTIN_RULES.map((b) => b.id).filter((id) => id !== "destroy.mkfs"), "reboot"]);
  expect(rules.at(-1)).toMatchObject({ builtin: false, severity: "critical" });
  expect((await t.app.request("/api/v1/rules")).status).toBe(401);
});

test("a built-in rule over history: exact matches per day, newest examples first; a host filter; a config-style rule by program", async () => {
  const t = await suite.newApp();
  await seeded(t);
  const all = await json<BacktestAnswer>(await post(t, { builtin: "destroy.rm-root" }));
  expect(all).toMatchObject({ scanned: 7, matched: 3, complete: true, stopped: null });
  expect(all.days).toEqual([{ day: "2024-03-02", matches: 2 }, { day: "2024-03-01", matches: 1 }]);
  expect(all.examples.map((e) => e.command)).toEqual(["rm -r -f /", "cd / && rm -fr /*", "sudo rm -rf /"]);
  const web = await json<BacktestAnswer>(await post(t, { builtin: "destroy.rm-root", host: "web-1", examples: 1 }));
  expect([web.scanned, web.matched, web.examples.length]).toEqual([6, 2, 1]);
  const reboot = await json<BacktestAnswer>(await post(t, { rule: { id: "reboot", command: ["reboot", "shutdown"] } }));
  expect(reboot.examples.map((e) => e.command)).toEqual(["sudo /sbin/reboot"]);
  const ranged = await json<BacktestAnswer>(await post(t, { builtin: "destroy.rm-root", from: "2024-03-02T00:00:00Z" }));
  expect([ranged.scanned, ranged.matched]).toEqual([4, 2]);
});

test("bounded: maxRecords stops the scan and says so; exactly maxRecords of maxRecords is complete", async () => {
  const t = await suite.newApp();
  await seeded(t);
  const cut = await json<BacktestAnswer>(await post(t, { builtin: "destroy.rm-root", maxRecords: 3 }));
  expect(cut).toMatchObject({ scanned: 3, matched: 1, complete: false, stopped: "stopped after 3 records (maxRecords)" }); // the newest three: one rm -rf /
  expect((await json<BacktestAnswer>(await post(t, { builtin: "destroy.rm-root", maxRecords: 7 }))).complete).toBe(true);
});

test("a regex too slow for the text it meets is stopped in its worker; the server goes on answering", async () => {
  const t = await makeApp({}, { backtestLimits: { budgetMs: 20_000, batchMs: 500 } });
  try {
    const slow = "x".repeat(5000);
    expect((await json<IngestAnswer>(await t.postRaw(enc(suite.hook({ hostname: "web-1", sessionId: "s", seq: 1, command: slow }))))).accepted).toBe(1);
    const started = performance.now();
    const res = await json<BacktestAnswer>(await post(t as never, { rule: { id: "slow", regex: "x.*x.*x.*x.*x.*=" } }));
    expect(res.complete).toBe(false);
    expect(res.stopped).toContain("a regex too slow");
    expect(performance.now() - started).toBeLessThan(5_000);
    expect((await t.get("/api/v1/rules")).status).toBe(200);
  } finally {
    await t.close();
  }
}, 30_000);

test.each([
  [{}, "give rule or builtin"],
  [{ builtin: "destroy.rm-root", rule: { id: "x", regex: "a" } }, "give rule or builtin"],
  [{ builtin: "nope" }, "builtin: not the id of a built-in rule"],
  [{ rule: { id: "x", regex: "(a+)+$" } }, "exponential"],
  [{ rule: { id: "x", command: "ls" }, maxRecords: 0 }, "maxRecords"],
  [{ builtin: "destroy.rm-root", from: "yesterday" }, "from"],
  [{ builtin: "destroy.rm-root", extra: 1 }, "extra"],
])("refused with 400 naming the problem: %j", async (body, problem) => {
  const t = await suite.newApp();
  const res = await post(t, body);
  expect(res.status).toBe(400);
  expect(((await res.json()) as { msg: string }).msg).toContain(problem);
});

test.each([
  [{ alerts: { rules: [{ id: "a", regex: "x" }, { id: "a", regex: "y" }] } }, "alerts.rules", "two rules have one id"],
  [{ alerts: { rules: [{ id: "destroy.rm-root", regex: "x" }] } }, "alerts.rules", "a built-in rule's"],
  [{ alerts: { disabled_builtins: ["destroy.nothing"] } }, "alerts.disabled_builtins", "not the id of a built-in rule"],
  [{ alerts: { rules: [{ id: "a", regex: "(x+)+" }] } }, "alerts.rules.0.regex", "exponential"],
])("a config with bad alert rules is refused at start, naming the key: %j", (tree, key, problem) => {
  const res = configSchema.safeParse(tree);
  expect(res.success).toBe(false);
  const issue = res.error!.issues[0]!;
  expect(issue.path.join(".")).toBe(key);
  expect(issue.message).toContain(problem);
});
