/**
 * Pre-emption through the raw route: a user appends a record with their own session id and next seq
 * before the hook writes the real one. Both arrive with one key and other content: both are stored
 * and flagged conflict, the real command is never a "duplicate" of the forged one.
 */
import { expect, test } from "bun:test";
import { cat, enc, type IngestAnswer, json, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();

test("a forged line with the session's next seq, then the hook's own: both stored, both flagged conflict; resending the log stores nothing more", async () => {
  const t = await suite.newApp();
  const forged = enc(suite.hook({ sessionId: "victim-s", seq: 5, command: "ls # forged first" }));
  const real = enc(suite.hook({ sessionId: "victim-s", seq: 5, command: "cat /etc/shadow" }));
  const next = enc(suite.hook({ sessionId: "victim-s", seq: 6, command: "logout-ish" }));
  const body = cat(forged, real, next);
  const first = await json<IngestAnswer>(await t.postRaw(body));
  expect(first).toMatchObject({ accepted: 3, duplicates: 0, rejected: [], consumed: body.length });
  const rows = (await t.all({ session: "victim-s" })).sort((a, b) => a.seq! - b.seq! || a.id - b.id);
  expect(rows.map((r) => [r.seq, r.command, r.flags])).toEqual([
    [5, "ls # forged first", ["conflict"]], [5, "cat /etc/shadow", ["conflict"]], [6, "logout-ish", []],
  ]);
  const again = await json<IngestAnswer>(await t.postRaw(body));
  expect(again).toMatchObject({ accepted: 0, duplicates: 3 });
  expect((await t.all({ flagged: "true" })).length).toBe(2);
});
