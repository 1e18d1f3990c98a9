/**
 * A user who assigns the hook's counter (`__ca_seq=1`) in their own shell makes later records
 * reuse keys of earlier ones. What was typed in a real interactive bash on a pty, sent through the
 * server's raw route (in-process, a real SQLite store): every command is stored, each reused key is a
 * conflict (both records kept and flagged), and the session view counts them exactly.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { SessionsPage } from "../../protocol/http.ts";
import { RouteSuite } from "../server/helpers.ts";
import { BASHES, commands, hookNoise, hookRoot, rcFile, readLog, REMOVE_ROOTS_MS, removeHookRoots, text, typeInto } from "./support.ts";

afterAll(removeHookRoots, REMOVE_ROOTS_MS);
const suite = new RouteSuite();

// The counter is plain shell state on every version: the oldest and the newest build show it.
for (const bash of [...new Set([BASHES[0]!, BASHES.at(-1)!])]) {
  describe(`bash ${bash.version}`, () => {
    test("__ca_seq assigned by hand: every command stored, each reused key a conflict with both kept, counted in the session", async () => {
      const root = hookRoot();
      const typed = ["echo one", "echo two", "__ca_seq=1", "echo three", "echo four", "exit"];
      const r = await typeInto(rcFile(root), typed.join("\n") + "\n", { bash });
      // The only mention of the hook on the terminal is the typed assignment's echo.
      expect(hookNoise(r.output).filter((l) => !l.includes("__ca_seq=1"))).toEqual([]);
      const log = readLog(root.log);
      expect(commands(log).map(text)).toEqual(typed);
      // What the log itself says: keys (seq) used by more than one record of different content.
      const bySeq = new Map<number, Set<string>>();
      for (const rec of log.records) bySeq.set(rec.seq!, (bySeq.get(rec.seq!) ?? new Set()).add(`${rec.kind} ${text(rec)}`));
      const reused = [...bySeq.values()].filter((s) => s.size > 1);
      expect(reused.length).toBeGreaterThan(0);
      const conflicting = reused.reduce((n, s) => n + s.size, 0);

      const t = await suite.newApp();
      const ans = (await (await t.postRaw(readFileSync(root.log))).json()) as { accepted: number; duplicates: number; rejected: unknown[] };
      expect(ans).toMatchObject({ accepted: log.records.length, duplicates: 0, rejected: [] });
      const rows = await t.all();
      expect(rows.filter((x) => x.kind === "command").map((x) => x.command).sort()).toEqual([...typed].sort());
      expect(rows.filter((x) => x.flags.includes("conflict")).length).toBe(conflicting);
      const host = rows[0]!.hostname;
      const sessions = (await (await t.get(`/api/v1/sessions?host=${encodeURIComponent(host)}`)).json()) as SessionsPage;
      expect(sessions.items.map((s) => [s.conflicts, s.ended])).toEqual([[conflicting, true]]);
    }, 120_000);
  });
}
