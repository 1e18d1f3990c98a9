/**
 * Cost of the audit hook per prompt, side by side in one run: a bare prompt,
 * the 2018 seed's hook and cmdaudit's, each in a real interactive bash on a pty
 * typing N no-op commands. The cost is CPU time (the shell's own and its
 * children's, from bash's `times`), the slope between two runs of N_small and
 * N_large commands, so start-up cancels out. Wall time on a pty measures the
 * terminal round trip, not the hook. Forks and execs per command come from
 * `strace -f` the same way. The seed costs ~100× more per command and forks 11 times, so
 * its large run is shorter (BENCH_HOOK_SEED_LARGE, default min(large, 1200)): on a loaded
 * machine its forks wait for a CPU and 4,000 commands take a quarter of an hour of wall time,
 * while 1,000 already give seconds of CPU time against the 10 ms resolution of `times`.
 * CPU time moves by a few percent from run to run; where valgrind is installed, the
 * user-space instructions bash itself executes per prompt (callgrind, the same slope between
 * two runs) are added: a count, the same in every run of the same bash and hook.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fmt, percentile, printTable } from "./table.ts";

const HOOK = fileURLToPath(new URL("../ansible/roles/cmdaudit_hook/files/etc/profile.d/00-cmdaudit.sh", import.meta.url));
const SEED = fileURLToPath(new URL("./seed/cmdhistLog.sh", import.meta.url));

function variants(dir: string): [string, string][] {
  const rc = (name: string, body: string) => {
    const p = join(dir, `rc-${name}`);
    writeFileSync(p, `${body}\nPS1='$ '\n`);
    return p;
  };
  const seed = readFileSync(SEED, "utf8").replace("/tmp/XingkaOpsCmdHist.log", join(dir, "seed.log"));
  writeFileSync(join(dir, "seed.sh"), seed);
  writeFileSync(join(dir, "seed.log"), "");
  const hook = readFileSync(HOOK, "utf8").replace(/^__cmdaudit_log=.*$/m, `__cmdaudit_log=${join(dir, "cmdaudit.log")}`);
  writeFileSync(join(dir, "cmdaudit.sh"), hook);
  return [
    ["bare prompt", rc("bare", "")],
    ["2018 seed hook", rc("seed", `. ${join(dir, "seed.sh")}`)],
    ["cmdaudit hook", rc("cmdaudit", `. ${join(dir, "cmdaudit.sh")}`)],
    // The branches bash 4.2 (printf %(...)T) and 4.1 (date) take, forced on this bash.
    ["cmdaudit, bash 4.2 clock", rc("cmdaudit-42", `CMDAUDIT_HOOK_CLOCK=printf . ${join(dir, "cmdaudit.sh")}`)],
    ["cmdaudit, bash 4.1 clock", rc("cmdaudit-41", `CMDAUDIT_HOOK_CLOCK=date . ${join(dir, "cmdaudit.sh")}`)],
  ];
}

/**
 * CPU seconds (user+sys of the shell and its children) for n typed commands; or, with strace
 * or callgrind, just run (their output goes to the file named).
 */
async function run(dir: string, rc: string, n: number, strace?: string, callgrind?: string): Promise<number> {
  const out = join(dir, "times.out");
  const bash = `bash --noediting --rcfile ${rc} -i`;
  let argv = ["script", "-qec", callgrind ? `valgrind -q --tool=callgrind --callgrind-out-file=${callgrind} ${bash}` : bash, "/dev/null"];
  if (strace) argv = ["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork,execve", "-o", strace, ...argv];
  const typed = ":\n".repeat(n) + `times >${out}\nexit\n`;
  const p = Bun.spawn(argv, { stdin: Buffer.from(typed), stdout: "ignore", stderr: "ignore", env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", HOME: tmpdir(), TERM: "dumb" } });
  if ((await p.exited) !== 0) throw new Error(`bash run failed (${rc})`);
  // `times`: "0m0.012s 0m0.003s" for the shell, then the same for its children.
  const secs = [...readFileSync(out, "utf8").matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 4) throw new Error(`unexpected \`times\` output from ${rc}`);
  return secs.reduce((a, b) => a + b, 0);
}

/** Instructions in a callgrind output file ("summary: N" or "totals: N"). */
function instructions(file: string): number {
  const m = /^(?:summary|totals): (\d+)/m.exec(readFileSync(file, "utf8"));
  if (!m) throw new Error(`no instruction count in ${file}`);
  return Number(m[1]);
}

function countCalls(file: string): { forks: number; execs: number } {
  const lines = readFileSync(file, "utf8").split("\n");
  const ok = (l: string) => !/= -1 /.test(l);
  return {
    forks: lines.filter((l) => /\b(clone3?|v?fork)\(/.test(l) && ok(l)).length,
    execs: lines.filter((l) => /\bexecve\(/.test(l) && ok(l)).length,
  };
}

export async function benchHook(opts: { small: number; large: number; rounds: number }) {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-bench-hook-"));
  const vs = variants(dir);
  const perPrompt = new Map<string, number[]>(vs.map(([name]) => [name, []]));
  const seedLarge = Math.max(opts.small + 100, Number(process.env.BENCH_HOOK_SEED_LARGE ?? Math.min(opts.large, 1200)));
  for (let r = 0; r < opts.rounds; r++) {
    for (const [name, rc] of r % 2 ? [...vs].reverse() : vs) {
      const large = name === "2018 seed hook" ? seedLarge : opts.large;
      const a = await run(dir, rc, opts.small);
      const b = await run(dir, rc, large);
      perPrompt.get(name)!.push(((b - a) / (large - opts.small)) * 1e6);
    }
  }
  const med = (name: string) => percentile([...perPrompt.get(name)!].sort((x, y) => x - y), 50);
  const bare = med("bare prompt");
  const rows: (string | number)[][] = [];
  const valgrind = Bun.which("valgrind") !== null;
  for (const [name, rc] of vs) {
    const f1 = join(dir, `${name}-a.strace`);
    const f2 = join(dir, `${name}-b.strace`);
    await run(dir, rc, 20, f1);
    await run(dir, rc, 120, f2);
    const c1 = countCalls(f1);
    const c2 = countCalls(f2);
    const us = med(name);
    let ir = "n/a";
    // The seed's cost is its 11 forks and the programs they run, which callgrind of bash does not see.
    if (name === "2018 seed hook") ir = "— (forks)";
    else if (valgrind) {
      const out = (n: number) => join(dir, `${name.replace(/[^A-Za-z0-9.]+/g, "-")}-${n}.callgrind`); // inside `script -c`: no blanks
      await run(dir, rc, 100, undefined, out(100));
      await run(dir, rc, 600, undefined, out(600));
      ir = fmt((instructions(out(600)) - instructions(out(100))) / 500, 0);
    }
    rows.push([name, fmt(us, 0), name === "bare prompt" ? "—" : fmt(us - bare, 0), fmt((c2.forks - c1.forks) / 100, 2), fmt((c2.execs - c1.execs) / 100, 2), ir]);
  }
  const seedAdded = med("2018 seed hook") - bare;
  const oursAdded = med("cmdaudit hook") - bare;
  printTable(`Hook cost per prompt: bash ${Bun.spawnSync(["bash", "-c", "echo $BASH_VERSION"]).stdout.toString().trim()} on a pty, CPU time, median of ${opts.rounds} rounds of ${opts.large}−${opts.small} commands (seed ${seedLarge}−${opts.small}); seed/cmdaudit added-cost ratio ${fmt(seedAdded / Math.max(oursAdded, 0.001), 0)}×`,
    ["variant", "CPU µs per prompt", "µs added", "forks per command", "execs per command", "bash instructions per prompt"], rows);
  return { bare, seedAdded, oursAdded };
}
