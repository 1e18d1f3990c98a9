/**
 * The hook's cost per prompt on every bash >= 4.2, as instructions (callgrind: a count, the same in
 * every run, unlike CPU time on a loaded machine): a one-line command must take the inline path of
 * __cmdaudit_prompt. Before bash 5.1 HISTCMD is 1 in PROMPT_COMMAND, and a check on it sent every
 * prompt of 4.2-5.0 to the slow path (2.9 M instructions a prompt on 4.2, 1.8 M on 4.4); then each
 * bash copies the whole body of a function each time it runs it, and 4.2 pays per character expanded.
 * Skipped where valgrind is not installed, except in CI (CI=true), where that fails the run.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { atLeast, BASHES, type Bash, commands, hookRoot, rcFile, readLog, REMOVE_ROOTS_MS, removeHookRoots, spawnTracked } from "./support.ts";

afterAll(removeHookRoots, REMOVE_ROOTS_MS);
if (!Bun.which("valgrind") && process.env.CI === "true") throw new Error("not installed: valgrind (the hook's cost test counts instructions with callgrind)");

/**
 * Instructions added per prompt that fail the test: ~100 µs (bench/hook.ts measures 0.09-0.13 µs per
 * 1,000 here). In 2026-12: 876 k on bash 4.2 (the most: each character its commands expand costs
 * it a mbrtowc() in UTF-8), 654 k on 4.4, 749 k on 5.2.
 */
const MAX_ADDED = 1_000_000;

/** Instructions of the interactive shell (the largest callgrind file) typing `n` no-op commands. */
async function instructions(bash: Bash, withHook: boolean, n: number): Promise<number> {
  const root = hookRoot();
  const rc = withHook ? rcFile(root) : join(root.dir, "bare-rc");
  if (!withHook) writeFileSync(rc, "PS1='$ '\n");
  const out = join(root.dir, "cg");
  const p = spawnTracked(["script", "-qec", `valgrind -q --tool=callgrind --callgrind-out-file=${out}.%p ${bash.path} --noediting --rcfile ${rc} -i`, "/dev/null"], {
    stdin: Buffer.from(":\n".repeat(n) + "exit\n"), stdout: "ignore", stderr: "ignore", cwd: root.dir,
    env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", HOME: root.dir, TERM: "dumb", LANG: "C.UTF-8" },
  });
  expect(await p.exited).toBe(0);
  if (withHook) expect(commands(readLog(root.log)).length).toBe(n + 1);
  const counts = readdirSync(root.dir).filter((f) => f.startsWith("cg.")).map((f) => Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(join(root.dir, f), "utf8"))?.[1]));
  return Math.max(...counts);
}

describe.each(BASHES.filter((b) => atLeast(b, 4, 2)))("bash $version", (bash: Bash) => {
  test.skipIf(!Bun.which("valgrind"))(`a one-line command adds fewer than ${MAX_ADDED.toLocaleString("en")} instructions per prompt`, async () => {
    const slope = async (withHook: boolean) => ((await instructions(bash, withHook, 120)) - (await instructions(bash, withHook, 20))) / 100;
    const added = (await slope(true)) - (await slope(false));
    expect(added).toBeLessThan(MAX_ADDED);
  }, 180_000);
});
