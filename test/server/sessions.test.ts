/**
 * GET /api/v1/sessions: one host's sessions with what is missing from each, through app.request() on a
 * real SQLite store: a gap in the sequence, a missing end and a conflict show with exact counts.
 */
import { expect, test } from "bun:test";
import type { SessionsPage } from "../../protocol/http.ts";
import { cat, enc, type IngestAnswer, json, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();

test("a whole session, one with records that never arrived and no end, one with a pre-empted record: each shows what happened", async () => {
  const t = await suite.newApp();
  const h = (sessionId: string, seq: number, over: Parameters<typeof suite.hook>[0] = {}) =>
    enc(suite.hook({ hostname: "sess-web", sessionId, seq, ctime: `2024-03-01T12:00:${String(seq).padStart(2, "0")}+08:00`, ...over }));
  const body = cat(
    h("whole", 1, { kind: "session_start", command: "" }), h("whole", 2, { command: "uptime" }), h("whole", 3, { kind: "session_end", command: "" }),
    h("gappy", 1, { kind: "session_start", command: "" }), h("gappy", 2, { command: "id" }), h("gappy", 6, { command: "ls /root" }),
    h("pre", 1, { command: "true # forged" }), h("pre", 1, { command: "rm -rf /tmp/evidence" }),
  );
  expect((await json<IngestAnswer>(await t.postRaw(body))).accepted).toBe(8);
  const page = await json<SessionsPage>(await t.get("/api/v1/sessions?host=sess-web"));
  const by = Object.fromEntries(page.items.map((s) => [s.sessionId, [s.records, s.firstSeq, s.lastSeq, s.missingSeqs, s.started, s.ended, s.conflicts]]));
  expect(by).toEqual({
    whole: [3, 1, 3, 0, true, true, 0],
    gappy: [3, 1, 6, 3, true, false, 0],
    pre: [2, 1, 1, 0, false, false, 2],
  });
  expect(page.items[0]!).toMatchObject({ hostname: "sess-web", lusers: ["alice"], susers: ["root"] });
  expect(page.items.map((s) => s.sessionId)).toEqual(["gappy", "whole", "pre"]); // newest activity first
  // Paging: two pages of at most two, nothing lost or repeated.
  const p1 = await json<SessionsPage>(await t.get("/api/v1/sessions?host=sess-web&limit=2"));
  const p2 = await json<SessionsPage>(await t.get(`/api/v1/sessions?host=sess-web&limit=2&cursor=${p1.nextCursor}`));
  expect([...p1.items, ...p2.items].map((s) => s.sessionId)).toEqual(["gappy", "whole", "pre"]);
  expect(p2.nextCursor).toBeNull();
  // Bad queries name what is wrong.
  for (const [q, msg] of [["", "host"], ["host=sess-web&cursor=nonsense", "cursor"], ["host=sess-web&from=yesterday", "from"], ["host=sess-web&extra=1", "extra"]] as const) {
    const res = await t.get(`/api/v1/sessions?${q}`);
    expect([q, res.status]).toEqual([q, 400]);
    expect(((await res.json()) as { msg: string }).msg).toContain(msg);
  }
});
