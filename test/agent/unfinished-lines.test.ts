/**
 * Both reporters on a log where another user left lines without their LF (issue 13, "Swallowing";
 * docs/log-format.md, "Unfinished lines"), against the real server process on MariaDB: a record an
 * older hook wrote onto such a line is dead-lettered and counted, exactly, in a stored loss record,
 * never ignored; records written LF first (this hook) are stored.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { INGEST_TOKEN } from "../support/config.ts";
import { Case, cleanupCases } from "./sh-support.ts";
import { type Backend, lossRecords, makeHost, removeTempDirs, reporterBinary, runReporter, startBackend, storedFor } from "./support.ts";

let be: Backend;
beforeAll(async () => {
  await reporterBinary();
  be = await startBackend();
}, 120_000);
afterAll(async () => {
  await be?.stop();
  removeTempDirs();
  cleanupCases();
});

const GLUED = /^record start \(CA2 TAB\) after 1 byte\(s\) of something else: a record written onto an unfinished line$/;

describe("a record written onto a line another user left unfinished", () => {
  /** A log as the compiled reporter's tests write it, with the glued record; what it holds and where. */
  const gluedLog = () => {
    const h = makeHost();
    h.configure(be.server.url);
    h.write(2); // an older hook's lines: no LF first
    const at = statSync(h.log).size;
    h.append("x"); // another user's byte without a newline
    h.write(1); // an older hook's record, glued onto it
    const glued = h.written.pop()!;
    h.append("y\n"); // again, and this hook's LF first ends it: a line of its own
    h.write(1);
    h.append("\n");
    h.write(1);
    return { h, at, glued };
  };

  test("compiled reporter: dead-lettered with the reason; LF-first records stored", async () => {
    const { h, glued } = gluedLog();
    expect((await runReporter(h)).code).toBe(0);
    const rows = await storedFor(be.server, h.hostname);
    expect(rows.filter((r) => r.kind !== "loss").map((r) => r.seq).sort()).toEqual(h.written.map((r) => r.seq));
    expect(rows.some((r) => r.seq === glued.seq)).toBe(false);
    const letters = readFileSync(join(h.stateDir, "deadletter.ndjson"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    expect(letters.length).toBe(1);
    expect(letters[0].reason).toMatch(/record start \(CA2 TAB\) after 1 byte\(s\)/);
    expect(letters[0].raw).toStartWith("xCA2\tR\t");
  });

  // The compiled reporter counts a dead letter's records with holdsRecordStart (agent/src/tail/records.ts),
  // which sees a record start anywhere in the line, as the decoder does.
  test("compiled reporter: the glued record is counted in one loss record", async () => {
    const { h, at } = gluedLog();
    expect((await runReporter(h)).code).toBe(0);
    const loss = await lossRecords(be.server, h.stateDir);
    expect(loss).toEqual([expect.stringMatching(new RegExp(`^cmdaudit reporter: 1 record\\(s\\) of ${h.log.replace(/[.]/g, "\\.")} at offset(?:\\(s\\)|s)? ${at}\\b`))]);
  });

  test("sh reporter: dead-lettered (body and answer naming the line) and counted in one loss record; LF-first records stored", async () => {
    const c = new Case(["dash"], `unfinished-${process.pid}.test`, be.server.url);
    writeFileSync(c.tokenFile, INGEST_TOKEN + "\n", { mode: 0o600 });
    c.record("echo one");
    const at = statSync(c.log).size;
    writeFileSync(c.log, "x", { flag: "a" });
    c.record("echo glued", { expect: false });
    writeFileSync(c.log, "y\n", { flag: "a" });
    c.record("echo three");
    expect(await c.run()).toEqual({ code: 0, stdout: "", stderr: "" });
    const rows = await storedFor(be.server, c.host);
    expect(rows.filter((r) => r.kind !== "loss").map((r) => r.command).sort()).toEqual(["echo one", "echo three"]);
    const dl = readdirSync(join(c.stateDir, "deadletter")).sort();
    expect(dl.length).toBe(2);
    const answer = JSON.parse(readFileSync(join(c.stateDir, "deadletter", dl.find((f) => f.endsWith(".answer"))!), "utf8"));
    expect(answer.rejected).toEqual([{ line: 2, error: expect.stringMatching(/^damaged line: /) }]);
    expect(answer.rejected[0].error.slice("damaged line: ".length)).toMatch(GLUED);
    const loss = (await storedFor(be.server, { session: c.state().REPORTER_ID ?? "none", kind: "loss" })).map((r) => r.command);
    expect(loss).toEqual([expect.stringMatching(new RegExp(`^cmdaudit reporter: 1 record\\(s\\) of ${c.log.replace(/[.]/g, "\\.")} at offset(?:\\(s\\)|s)? ${at}\\b`))]);
  });
});
