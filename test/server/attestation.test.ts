/**
 * Every record says who vouches for its user and session (protocol/record.ts ATTESTATIONS): `none`
 * for log lines and by default, `kernel` only from a reporter with its host's own token.
 */
import { expect, test } from "bun:test";
import { hostToken } from "../../server/src/host-token.ts";
import { testConfig } from "../support/config.ts";
import { enc, type IngestAnswer, json, RouteSuite } from "./helpers.ts";

const suite = new RouteSuite();
const KEY = "attestation-host-key-0123456789abcdefghij";
suite.secret(KEY);

test("kernel only with the host's own token; none by default and for every line of the raw route; shown in JSON, NDJSON and CSV", async () => {
  const t = await suite.newApp({ tokens: { ...testConfig().tokens, host_key: KEY, shared_ingest: true } });
  const own = hostToken(KEY, "att-host");
  suite.secret(own);
  const kernel = await json<IngestAnswer>(await t.post([
    suite.v2({ hostname: "att-host", sessionId: "att", seq: 1, command: "attested", attestation: "kernel", attestedUser: "root", attestedLoginUser: "alice" }),
    suite.v2({ hostname: "att-host", sessionId: "att", seq: 2, command: "not said" }),
  ], { AccessToken: own }));
  expect(kernel).toMatchObject({ accepted: 2, rejected: [] });
  const shared = await json<IngestAnswer>(await t.post([
    suite.v2({ hostname: "att-host", sessionId: "att", seq: 3, command: "claimed by a shared token", attestation: "kernel", attestedUser: "root" }),
    suite.v2({ hostname: "att-host", sessionId: "att", seq: 4, command: "bad value", attestation: "root" }),
  ]));
  expect(shared.accepted).toBe(0);
  expect(shared.rejected).toEqual([
    { index: 0, error: "attestation kernel needs the host's own token (a shared token writes for any host)" },
    { index: 1, error: "attestation must be one of kernel, none" },
  ]);
  const raw = await json<IngestAnswer>(await t.postRaw(enc(suite.hook({ hostname: "att-host", sessionId: "att-raw", seq: 1, command: "from the file" })), "", { AccessToken: own }));
  expect(raw.accepted).toBe(1);
  const rows = await t.all();
  expect(Object.fromEntries(rows.map((r) => [r.command, r.attestation]))).toEqual({ attested: "kernel", "not said": "none", "from the file": "none" });
  const nd = (await (await t.get("/api/v1/commands?format=ndjson")).text()).trimEnd().split("\n").map((l) => JSON.parse(l) as { command: string; attestation: string });
  expect(nd.find((r) => r.command === "attested")!.attestation).toBe("kernel");
  const csv = (await (await t.get("/api/v1/commands?format=csv")).text()).split("\r\n");
  expect(csv[0]!.endsWith(",flags,attestation,attestedUser,attestedLoginUser,redactions")).toBe(true);
  expect(csv.filter((l) => l.includes("attested") && l.endsWith(",kernel,root,alice,")).length).toBe(1);
});

test("a kernel-attested record whose users are not the kernel's is stored as a forgery attempt by the attested user, flagged forged", async () => {
  const t = await suite.newApp({ tokens: { ...testConfig().tokens, host_key: KEY } });
  const own = hostToken(KEY, "att2");
  suite.secret(own);
  const rec = (seq: number, over: Record<string, unknown>) => suite.v2({ hostname: "att2", sessionId: "f", seq, command: `forgery case ${seq}`, attestation: "kernel", ...over });
  const ans = await json<IngestAnswer>(await t.post([
    rec(1, { suser: "root", luser: "alice", attestedUser: "root", attestedLoginUser: "alice" }), // genuine
    rec(2, { suser: "root", luser: "alice", attestedUser: "bob", attestedLoginUser: "bob" }), // bob wrote a record of root
    rec(3, { suser: "alice", luser: "root", attestedUser: "alice", attestedLoginUser: "alice" }), // the right user, another login user
    rec(4, { suser: "alice", luser: "alice", attestedUser: "alice", attestedLoginUser: null }), // no login uid: suser alone is checked
    rec(5, { suser: "root", luser: "alice", attestation: "none", attestedUser: "root" }), // attested fields without the attestation
    rec(6, { suser: "root", luser: "alice", attestedUser: undefined }), // kernel without whom
  ], { AccessToken: own }));
  expect(ans.accepted).toBe(4);
  expect(ans.rejected).toEqual([
    { index: 4, error: "attestedUser and attestedLoginUser go with attestation kernel only" },
    { index: 5, error: "attestation kernel needs attestedUser (the name of the uid the kernel gave the writer)" },
  ]);
  const rows = (await t.all({ session: "f" })).sort((a, b) => a.seq! - b.seq!);
  expect(rows.map((r) => [r.seq, r.flags.includes("forged"), r.attestedUser, r.attestedLoginUser])).toEqual([
    [1, false, "root", "alice"], [2, true, "bob", "bob"], [3, true, "alice", "alice"], [4, false, "alice", null],
  ]);
  expect((await t.all({ flagged: "true" })).map((r) => r.seq).sort()).toEqual([2, 3]);
});
