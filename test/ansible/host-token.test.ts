/**
 * The reporter role's cmdaudit_host_token filter (Python, run by real Ansible on localhost) gives the
 * token the server computes and accepts (server/src/host-token.ts), for every host name and generation
 * tried; names a token cannot carry and short keys fail the play with the reason, never a token.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostToken, verifyHostToken } from "../../server/src/host-token.ts";

const FILTERS = join(import.meta.dir, "../../ansible/roles/cmdaudit_reporter/filter_plugins");
if (!Bun.which("ansible-playbook") && process.env.CI === "true") throw new Error("not installed: ansible-playbook");

const dir = mkdtempSync(join(tmpdir(), "cmdaudit-host-token-filter-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KEY = "filter-test-key-0123456789abcdefghijklmnop";

/** The filter's output for each case, one play on localhost; or the play's failure text. */
function filter(cases: { host: string; key: string; generation: number | string }[]): { code: number; tokens: string[]; out: string } {
  const vars = join(dir, `vars-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(vars, JSON.stringify({ cases }), { mode: 0o600 });
  const play = join(dir, "play.yml");
  writeFileSync(play, [
    "- hosts: localhost",
    "  gather_facts: false",
    "  tasks:",
    "    - ansible.builtin.copy:",
    "        dest: \"{{ out }}\"",
    "        mode: '0600'",
    "        content: \"{% for c in cases %}{{ c.host | cmdaudit_host_token(c.key, c.generation) }}\\n{% endfor %}\"",
  ].join("\n") + "\n");
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const p = Bun.spawnSync(["ansible-playbook", "-i", "localhost,", "-c", "local", play, "-e", `@${vars}`, "-e", `out=${out}`], {
    env: { ...process.env, ANSIBLE_FILTER_PLUGINS: FILTERS, ANSIBLE_NOCOLOR: "1", ANSIBLE_LOCALHOST_WARNING: "false" },
  });
  const text = p.stdout.toString() + p.stderr.toString();
  const tokens = existsSync(out) ? readFileSync(out, "utf8").split("\n").filter(Boolean) : [];
  return { code: p.exitCode ?? -1, tokens, out: text };
}

test("the filter's token is the server's, for plain, dotted, upper-case and long host names and any generation", () => {
  const cases = [
    { host: "web-1", key: KEY, generation: 0 },
    { host: "db01.prod.example.com", key: KEY, generation: 3 },
    { host: "WEB-2.Example.COM", key: KEY, generation: "7" },
    { host: "ip-10-0-0-1.ec2.internal", key: "another-key-with-ünïcödé-0123456789abcdef", generation: 999_999_999 },
    { host: "a".repeat(63) + "." + "b".repeat(63), key: KEY, generation: 1 },
    { host: "under_score", key: KEY, generation: 0 },
  ];
  const r = filter(cases);
  if (r.code !== 0) console.log(r.out.slice(-3000));
  expect(r.code).toBe(0);
  expect(r.tokens).toEqual(cases.map((c) => hostToken(c.key, c.host, Number(c.generation))));
  // …and the server takes each for its host at its generation.
  cases.forEach((c, i) => expect(verifyHostToken(c.key, { [c.host.toLowerCase()]: Number(c.generation) }, r.tokens[i]!)).toBe(c.host.toLowerCase()));
}, 120_000);

test.each([
  ["a host name with a blank", { host: "web 1", key: KEY, generation: 0 }, "host name may hold only"],
  ["a non-ASCII look-alike host name", { host: "wеb-1", key: KEY, generation: 0 }, "host name may hold only"],
  ["a short key", { host: "web-1", key: "short", generation: 0 }, "key must be at least 32 characters"],
  ["a negative generation", { host: "web-1", key: KEY, generation: -1 }, "generation must be an integer"],
  ["a generation that is not a number", { host: "web-1", key: KEY, generation: "next" }, "generation must be an integer"],
])("%s fails the play with the reason and writes no token", (_name, c, reason) => {
  const r = filter([c]);
  expect(r.code).not.toBe(0);
  expect(r.out).toContain(reason);
  expect(r.tokens).toEqual([]);
  expect(r.out).not.toContain(KEY);
}, 120_000);
