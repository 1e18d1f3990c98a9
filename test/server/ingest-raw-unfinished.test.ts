/**
 * POST /api/v1/ingest/raw on a log where a user left lines without their LF (issue 13, "Swallowing";
 * docs/log-format.md, "Unfinished lines"): a record written onto such a line by an older hook is
 * rejected by its line number, never ignored; lines written LF first (this hook) are stored.
 * In-process: createApp() on a real SQLite store through app.request().
 */
import { describe, expect, test } from "bun:test";
import { cat, enc, type IngestAnswer, json, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();
const SEED_LINE = "[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1] crontab -e";
suite.secrets.add("crontab -e");

describe("POST /api/v1/ingest/raw: lines someone left unfinished", () => {
  test("a record glued onto an unfinished line is rejected by line; records written LF first are stored; the stray bytes are ignored lines", async () => {
    const t = await suite.newApp();
    const r = (seq: number) => enc(suite.hook({ sessionId: "glued", seq, command: `echo record-${seq}` }));
    const body = cat(
      r(1), //                          line 1: stored
      "x", r(2), //                     line 2: an old hook's record after a byte without LF: rejected
      r(3), //                          line 3: stored
      "\n", r(4), //                    lines 4-5: this hook's LF first, then the record: stored
      "x", "\n", r(5), //               lines 6-7: the byte is ended by the hook's LF: an ignored line, then stored
      "ls -la", SEED_LINE, "\n", //     line 8: a 2018 line glued onto a raw history line: rejected
    );
    const ans = await json<IngestAnswer>(await t.postRaw(body));
    expect(ans.accepted).toBe(4);
    expect(ans.rejected.map((x) => x.line)).toEqual([2, 8]);
    expect(ans.rejected[0]!.error).toBe("damaged line: record start (CA2 TAB) after 1 byte(s) of something else: a record written onto an unfinished line");
    expect(ans.rejected[1]!.error).toBe("damaged line: record start ([date] of a 2018 line) after 6 byte(s) of something else: a record written onto an unfinished line");
    expect(ans.ignored).toBe(1); // "x" (the empty line is the hook's own separator, not counted)
    expect(ans.consumed).toBe(body.length);
    const rows = await t.all();
    expect(rows.map((x) => x.command).sort()).toEqual(["echo record-1", "echo record-3", "echo record-4", "echo record-5"]);
  });
});
