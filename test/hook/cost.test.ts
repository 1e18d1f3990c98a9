/**
 * The hook's cost per prompt on every bash >= 4.2, as instructions (callgrind: a count, the same in
 * every run, unlike CPU time on a loaded machine): a one-line command must take the inline path of
 * __ca_prompt. Before bash 5.1 HISTCMD is 1 in PROMPT_COMMAND, and a check on it sent every
 * prompt of 4.2-5.0 to the slow path (2.9 M instructions a prompt on 4.2, 1.8 M on 4.4); then each
 * bash copies the whole body of a function each time it runs it, and 4.2 pays per character expanded.
 * The same on the attested path: the hook writing to the stamping daemon (in this process).
 * Skipped where valgrind is not installed, except in CI (CI=true), where that fails the run.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSpool } from "../../agent/src/stamp/spool-records.ts";
import { startPrivilegedStampServer } from "../support/stamp.ts";
import { atLeast, BASHES, type Bash, commands, hookRoot, rcFile, readLog, REMOVE_ROOTS_MS, removeHookRoots, spawnTracked } from "./support.ts";

const spoolDir = mkdtempSync(join(tmpdir(), "cmdaudit-cost-spool-"));
const daemon = startPrivilegedStampServer({ spoolDir, quotaBytesPerUid: 1 << 30, maxConnectionsPerUid: 64, maxLineBytes: 65536 });
afterAll(async () => {
  daemon.stop();
  rmSync(spoolDir, { recursive: true, force: true });
  await removeHookRoots();
}, REMOVE_ROOTS_MS);
if (!Bun.which("valgrind") && process.env.CI === "true") throw new Error("not installed: valgrind (the hook's cost test counts instructions with callgrind)");

/**
 * Instructions added per prompt that fail the test: ~100 µs (bench/hook.ts measures 0.09-0.13 µs per
 * 1,000 here). In 2026-12: 876 k on bash 4.2 (the most: each character its commands expand costs
 * it a mbrtowc() in UTF-8), 654 k on 4.4, 749 k on 5.2.
 */
const MAX_ADDED = 1_000_000;

/** Command records the daemon spooled from the connection of shell `pid`, once it closed. */
async function spooledCommands(pid: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    for (const f of readdirSync(spoolDir)) {
      const bytes = readFileSync(join(spoolDir, f));
      const c = readSpool(bytes, String, 0);
      if (c.stamp.pid === pid && c.closed) return c.records.filter((r) => r.kind === "command").length;
    }
    await Bun.sleep(50);
  }
  throw new Error(`no closed spool file of shell ${pid}`);
}

/** Instructions of the interactive shell (the largest callgrind file) typing `n` no-op commands; `stamp`: the hook writes to the daemon. */
async function instructions(bash: Bash, withHook: boolean, n: number, stamp = false): Promise<number> {
  const root = hookRoot({ stampPort: stamp ? daemon.port : 0 });
  const rc = withHook ? rcFile(root) : join(root.dir, "bare-rc");
  if (!withHook) writeFileSync(rc, "PS1='$ '\n");
  const out = join(root.dir, "cg");
  const p = spawnTracked(["script", "-qec", `valgrind -q --tool=callgrind --callgrind-out-file=${out}.%p ${bash.path} --noediting --rcfile ${rc} -i`, "/dev/null"], {
    stdin: Buffer.from(":\n".repeat(n) + "exit\n"), stdout: "ignore", stderr: "ignore", cwd: root.dir,
    env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", HOME: root.dir, TERM: "dumb", LANG: "C.UTF-8" },
  });
  expect(await p.exited).toBe(0);
  const files = readdirSync(root.dir).filter((f) => f.startsWith("cg."));
  const counts = files.map((f) => Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(join(root.dir, f), "utf8"))?.[1]));
  const shell = Number(files[counts.indexOf(Math.max(...counts))]!.slice(3)); // cg.<pid>: the interactive shell's
  if (withHook) expect(stamp ? await spooledCommands(shell) : commands(readLog(root.log)).length).toBe(n + 1);
  if (stamp) expect(commands(readLog(root.log)).length).toBe(0);
  return Math.max(...counts);
}

describe.each(BASHES.filter((b) => atLeast(b, 4, 2)))("bash $version", (bash: Bash) => {
  const slope = async (withHook: boolean, stamp = false) => ((await instructions(bash, withHook, 120, stamp)) - (await instructions(bash, withHook, 20, stamp))) / 100;
  test.skipIf(!Bun.which("valgrind"))(`a one-line command adds fewer than ${MAX_ADDED.toLocaleString("en")} instructions per prompt, to the log file and to the stamping daemon`, async () => {
    const bare = await slope(false);
    const toFile = (await slope(true)) - bare;
    const toDaemon = (await slope(true, true)) - bare;
    console.log(`bash ${bash.version}: ${Math.round(toFile)} instructions added per prompt to the log file, ${Math.round(toDaemon)} to the daemon`);
    expect(toFile).toBeLessThan(MAX_ADDED);
    expect(toDaemon).toBeLessThan(MAX_ADDED);
  }, 300_000);
});
