/**
 * Cost of the audit hook on every real bash the hook supports (test/support/bashes.ts: the
 * builds of shared/bash, 4.1 to 5.3; CMDAUDIT_BASH_VERSIONS narrows the list), one row per
 * version, each measured in a real interactive bash on a pty (util-linux `script`) typing
 * commands as a user would:
 *
 * - µs per prompt: CPU time (bash's `times`: the shell's own and its children's) of a session
 *   typing N no-op commands, the slope between a small and a large N so start-up cancels out,
 *   with the hook and on a bare prompt; the µs added is the median over BENCH_HOOK_ROUNDS rounds
 *   of (hook − bare), bare and hook alternated within each round so load drifts hit both.
 *   Wall time on a pty measures the terminal round trip, not the hook.
 * - forks and execs per prompt with the hook: `strace -f` (clone, clone3, fork, vfork; execve),
 *   the same slope between two N.
 * - instructions per prompt added by the hook, where valgrind is installed: the user-space
 *   instructions bash executes (callgrind; its forked children's programs are not counted), the
 *   slope with the hook minus the slope without. A count: the same in every run.
 * - ms added by one long command: here-documents of 10 KiB, 100 KiB and 1 MiB (ASCII lines
 *   below 1,000 bytes, with TABs and backslashes the hook escapes), CPU time with the hook minus
 *   without, median of the rounds. `times` runs before each one, as the first command on its
 *   line (once bash has read it all), and after it, so start-up is outside and the cost splits
 *   in two: from when bash has read the command to the next prompt (the command and the hook's
 *   PROMPT_COMMAND: "ms added", which the target is checked on), and bash reading it. Reading
 *   1 MiB on a pty costs bash itself ~3 s of CPU time on every version (100 KiB: ~20 ms; it
 *   grows faster than the size), the same with and without the hook, and moves by ±10 % with load:
 *   the hook's difference there is shown beside that figure, mostly noise. Several of the small
 *   sizes are typed per session and averaged.
 *
 * A hook that forks per prompt (strace says so before the timed runs) and the 2018 seed hook
 * (bench/seed/, 11 forks a prompt, run on the newest version only as the reference ratio) type
 * fewer commands: a fork costs milliseconds here, and 4,000 of them take minutes of wall time.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HOOK_FILE, withLogPath, withStampPort } from "../agent/hook/log-path.ts";
import { lines, LogDecoder } from "../protocol/logline.ts";
import { BASHES, type Bash } from "../test/support/bashes.ts";
import { startPrivilegedStampServer, type StampServer } from "../test/support/stamp.ts";
import { fmt, median, printTable } from "./table.ts";

/** The hook in the tree, or BENCH_HOOK_FILE (another version of it, e.g. `git show HEAD:…` saved to a file). */
const HOOK = process.env.BENCH_HOOK_FILE || HOOK_FILE;
const SEED = fileURLToPath(new URL("./seed/cmdhistLog.sh", import.meta.url));

/** Targets the bench reports against (it does not fail on a miss). */
export const TARGETS = { usAdded: 100, forks: 0, msAdded1MiB: 100 };

export interface HookBenchOptions {
  /** No-op commands typed in the short and the long run of a hook without forks (and of the bare prompt). */
  small: number;
  large: number;
  /** The same for a hook that forks per prompt. */
  forkSmall: number;
  forkLarge: number;
  /** The same for the 2018 seed. */
  seedSmall: number;
  seedLarge: number;
  /** The same under callgrind. */
  cgSmall: number;
  cgLarge: number;
  rounds: number;
  /** Locale of the sessions. */
  lang: string;
  /** Seconds a here-document session may take before it is killed and reported as over the limit. */
  docLimit: number;
}

/** stamp: the hook writing to the stamping daemon (docs/transport.md), which runs in this process. */
type Variant = "bare" | "hook" | "stamp" | "seed";

/** Here-document sizes and how many are typed in one session. */
const DOCS = [{ bytes: 10 * 1024, count: 10 }, { bytes: 100 * 1024, count: 2 }, { bytes: 1024 * 1024, count: 1 }];
const kib = (bytes: number) => (bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`);

/** Typed as a command, `times` appended to the session's file (see Sessions.run). */
const TIMES = "times >>$__bench_times";

/**
 * A here-document command of about `bytes` bytes, in ASCII lines below 1,000 bytes (the tty's
 * canonical line limit is 4,095), which starts with `times`: it runs once bash has read the
 * whole command (and PS0 ran), so a `times` line before and one after split the command's cost
 * into bash reading it and everything after (the command, the hook's PROMPT_COMMAND).
 */
function heredoc(tag: string, bytes: number): string {
  const head = `${TIMES}; cat >/dev/null <<'END_${tag}'\n`;
  const tail = `END_${tag}\n`;
  const lines: string[] = [];
  for (let i = 0, size = head.length + tail.length; size < bytes; i++) {
    const line = `${i} ${tag} ${"x".repeat(900)} \\ \t $HOME *\n`;
    lines.push(line);
    size += line.length;
  }
  return head + lines.join("") + tail;
}

function rcFiles(dir: string, stampPort: number): Record<Variant, string> {
  const rc = (name: string, body: string) => {
    const p = join(dir, `rc-${name}`);
    writeFileSync(p, `${body}\nPS1='$ '\n`);
    return p;
  };
  const seed = readFileSync(SEED, "utf8").replace("/tmp/XingkaOpsCmdHist.log", join(dir, "seed.log"));
  writeFileSync(join(dir, "seed.sh"), seed);
  writeFileSync(join(dir, "seed.log"), "");
  const hook = withLogPath(readFileSync(HOOK, "utf8"), join(dir, "cmdaudit.log"));
  writeFileSync(join(dir, "cmdaudit.sh"), hook);
  writeFileSync(join(dir, "cmdaudit-stamp.sh"), withStampPort(hook, stampPort));
  return {
    bare: rc("bare", ""), seed: rc("seed", `. ${join(dir, "seed.sh")}`), hook: rc("cmdaudit", `. ${join(dir, "cmdaudit.sh")}`),
    stamp: rc("cmdaudit-stamp", `. ${join(dir, "cmdaudit-stamp.sh")}`),
  };
}

interface Tools {
  /** strace output file. */
  strace?: string;
  /** callgrind output file prefix (the pid is appended: forked children write their own). */
  callgrind?: string;
}

/** Command records in a hook log, or in the stamping daemon's spool files (the contract's decoder). */
function commandRecords(bytes: Uint8Array): number {
  const d = new LogDecoder({ legacyUtcOffset: 0 });
  let n = 0;
  const take = (e: ReturnType<LogDecoder["finish"]>[number]) => {
    if (e.type === "record" && e.record.kind === "command") n++;
  };
  for (const { line, offset } of lines(bytes)) d.push(line, offset).forEach(take);
  d.finish().forEach(take);
  return n;
}

class Sessions {
  readonly rc: Record<Variant, string>;
  readonly log: string;
  readonly spool: string;
  readonly daemon: StampServer;
  constructor(readonly dir: string, readonly lang: string) {
    this.spool = join(dir, "spool");
    this.daemon = startPrivilegedStampServer({ spoolDir: this.spool, quotaBytesPerUid: 1 << 30, maxConnectionsPerUid: 64, maxLineBytes: 65536 });
    this.rc = rcFiles(dir, this.daemon.port);
    this.log = join(dir, "cmdaudit.log");
  }

  /** The spool files' bytes once every connection is closed (the daemon writes `#closed` last). */
  async spooled(): Promise<Uint8Array> {
    for (let i = 0; i < 200; i++) {
      const files = readdirSync(this.spool).map((f) => readFileSync(join(this.spool, f)));
      if (files.every((b) => b.includes("\n#closed "))) return Buffer.concat(files);
      await Bun.sleep(20);
    }
    throw new Error("the stamping daemon's spool did not settle");
  }

  /**
   * Type `payload` (`commands` commands; TIMES in it runs `times`) into `bash`, then exit. Returns
   * the CPU seconds (user + sys of the shell and its children) each `times` reported: cumulative
   * since the shell started; undefined when the session was killed after `limit` seconds. Each
   * session starts without a history file and with an empty log; the hook must have recorded
   * every command.
   */
  async run(bash: Bash, v: Variant, payload: string, commands: number, tools: Tools & { limit?: number } = {}): Promise<number[] | undefined> {
    const out = join(this.dir, "times.out");
    for (const f of [out, join(this.dir, ".bash_history")]) rmSync(f, { force: true });
    writeFileSync(this.log, "");
    for (const f of readdirSync(this.spool)) rmSync(join(this.spool, f));
    const limit = tools.limit ?? 3600;
    let cmd = `${bash.path} --noediting --rcfile ${this.rc[v]} -i`;
    // Inside `script -c`: no blanks in the file names.
    if (tools.callgrind) cmd = `valgrind -q --tool=callgrind --callgrind-out-file=${tools.callgrind}.%p ${cmd}`;
    // Killed when over the limit (`--foreground`: bash keeps the terminal).
    let argv = ["script", "-qec", `timeout --foreground -s KILL ${limit} ${cmd}`, "/dev/null"];
    if (tools.strace) argv = ["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork,execve", "-o", tools.strace, ...argv];
    const p = Bun.spawn(argv, {
      stdin: Buffer.from(`${payload}exit\n`), stdout: "ignore", stderr: "ignore", cwd: this.dir,
      env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", HOME: this.dir, TERM: "dumb", LANG: this.lang, __bench_times: out },
    });
    const code = await p.exited;
    if (code === 137 && tools.limit) return undefined;
    if (code !== 0) throw new Error(`bash ${bash.version} (${v}) session failed: exit ${code}`);
    if (v === "hook" || v === "stamp") {
      const got = commandRecords(v === "hook" ? readFileSync(this.log) : await this.spooled());
      if (v === "stamp" && commandRecords(readFileSync(this.log)) > 0) throw new Error(`bash ${bash.version}: the hook wrote to the log file, not to the daemon`);
      if (got < commands) throw new Error(`the hook recorded ${got} of ${commands} commands on bash ${bash.version}: not measuring a broken hook`);
    }
    // `times`: "0m0.012s 0m0.003s" for the shell, then the same for its children.
    const secs = [...readFileSync(out, "utf8").matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    const calls = payload.split(TIMES).length - 1;
    if (secs.length !== 4 * calls) throw new Error(`bash ${bash.version} (${v}): unexpected \`times\` output`);
    return Array.from({ length: calls }, (_, i) => secs.slice(4 * i, 4 * i + 4).reduce((x, y) => x + y, 0));
  }

  /** CPU seconds of a whole session typing n no-op commands. */
  async noops(bash: Bash, v: Variant, n: number, tools: Tools = {}): Promise<number> {
    return (await this.run(bash, v, `${":\n".repeat(n)}${TIMES}\n`, n + 1, tools))![0]!;
  }

  /**
   * CPU ms of `count` here-documents of `bytes` (each after a `times` line) per command: while
   * bash reads it (from the `times` line before to the one inside, so PS0 and the previous
   * prompt's short `times` record are in it) and from then to the next prompt.
   */
  async docs(bash: Bash, v: Variant, bytes: number, count: number, limit: number): Promise<{ read: number; after: number } | undefined> {
    const payload = Array.from({ length: count }, (_, i) => `${TIMES}\n${heredoc(`d${i}`, bytes)}`).join("") + `${TIMES}\n`;
    const t = await this.run(bash, v, payload, 2 * count + 1, { limit });
    if (!t) return undefined;
    let read = 0;
    let after = 0;
    for (let i = 0; i < count; i++) {
      read += t[2 * i + 1]! - t[2 * i]!;
      after += t[2 * i + 2]! - t[2 * i + 1]!;
    }
    return { read: (read / count) * 1e3, after: (after / count) * 1e3 };
  }

  /** Forks and execs per prompt (strace -f), the slope between n1 and n2 commands. */
  async calls(bash: Bash, v: Variant, n1: number, n2: number): Promise<{ forks: number; execs: number }> {
    const count = async (n: number) => {
      const file = join(this.dir, `${v}-${n}.strace`);
      await this.noops(bash, v, n, { strace: file });
      const lines = readFileSync(file, "utf8").split("\n").filter((l) => !/= -1 /.test(l));
      return { forks: lines.filter((l) => /\b(clone3?|v?fork)\(/.test(l)).length, execs: lines.filter((l) => /\bexecve\(/.test(l)).length };
    };
    const a = await count(n1);
    const b = await count(n2);
    return { forks: (b.forks - a.forks) / (n2 - n1), execs: (b.execs - a.execs) / (n2 - n1) };
  }

  /** Instructions bash executes per prompt (callgrind), the slope between n1 and n2 commands. */
  async instructions(bash: Bash, v: Variant, n1: number, n2: number): Promise<number> {
    const count = async (n: number) => {
      const prefix = `${v}-${n}.callgrind`;
      await this.noops(bash, v, n, { callgrind: join(this.dir, prefix) });
      // One file per process: the shell's is the largest (a forked child that execs is not followed).
      const files = readdirSync(this.dir).filter((f) => f.startsWith(`${prefix}.`));
      const counts = files.map((f) => {
        const m = /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(this.dir, f), "utf8"));
        if (!m) throw new Error(`no instruction count in ${f}`);
        rmSync(join(this.dir, f));
        return Number(m[1]);
      });
      if (!counts.length) throw new Error(`bash ${bash.version} (${v}): no callgrind output`);
      return Math.max(...counts);
    };
    const a = await count(n1);
    const b = await count(n2);
    return (b - a) / (n2 - n1);
  }
}

const showDoc = (d: Doc | undefined) => (!d ? "—" : "ms" in d ? fmt(d.ms, 2) : "overMs" in d ? `> ${fmt(d.overMs, 0)} (killed)` : "not run");
const showRead = (d: Doc | undefined) => (!d ? "—" : "ms" in d ? `${d.readMs < 0 ? "−" : "+"}${fmt(Math.abs(d.readMs), 0)} of ${fmt(d.bareReadMs, 0)}` : "—");
const elapsed = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
const log = (s: string) => process.stderr.write(`hook bench: ${s}\n`);

interface Row {
  name: string;
  n: string;
  bareUs: number;
  us: number;
  addedUs: number;
  forks: number;
  execs: number;
  instr?: number;
  /** Per here-document size: ms added, or over the limit (killed), or not run (a smaller one was over). */
  docs?: Doc[];
  /** Held to the targets without here-documents (the hook writing to the daemon). */
  candidate?: boolean;
}
/** ms added after bash read the command, and while it read it (bare: what bash alone spent reading it). */
type Doc = { ms: number; readMs: number; bareReadMs: number } | { overMs: number } | { notRun: true };

async function benchVersion(s: Sessions, bash: Bash, o: HookBenchOptions, withSeed: boolean): Promise<Row[]> {
  const t0 = performance.now();
  // Forks first: a hook that forks per prompt types fewer commands.
  const calls = await s.calls(bash, "hook", 20, 120);
  const stampCalls = await s.calls(bash, "stamp", 20, 120);
  const forking = calls.forks >= 0.5;
  const [small, large] = forking ? [o.forkSmall, o.forkLarge] : [o.small, o.large];
  const seedCalls = withSeed ? await s.calls(bash, "seed", 20, 70) : undefined; // 11 forks a prompt
  log(`bash ${bash.version}: ${fmt(calls.forks, 2)} forks per prompt, ${large}−${small} commands (${elapsed(t0)})`);
  const slope = async (v: Variant, n1: number, n2: number) => ((await s.noops(bash, v, n2)) - (await s.noops(bash, v, n1))) / (n2 - n1) * 1e6;
  const r = {
    bare: [] as number[], hook: [] as number[], added: [] as number[], seed: [] as number[], seedAdded: [] as number[], stamp: [] as number[], stampAdded: [] as number[],
    doc: DOCS.map(() => [] as number[]), read: DOCS.map(() => [] as number[]), bareRead: DOCS.map(() => [] as number[]),
  };
  // A size whose session took longer than docLimit seconds is over the limit; larger ones are not run.
  let over = DOCS.length;
  for (let round = 0; round < o.rounds; round++) {
    // Alternate who goes first, round by round, so a drift in load hits both.
    const pair = async <T>(f: (v: Variant) => Promise<T>): Promise<[T, T]> => {
      if (round % 2) {
        const h = await f("hook");
        return [await f("bare"), h];
      }
      const b = await f("bare");
      return [b, await f("hook")];
    };
    const [bare, hook] = await pair((v) => slope(v, small, large));
    r.bare.push(bare);
    r.hook.push(hook);
    r.added.push(hook - bare);
    const stamp = await slope("stamp", small, large);
    r.stamp.push(stamp);
    r.stampAdded.push(stamp - bare);
    if (withSeed) {
      const seed = await slope("seed", o.seedSmall, o.seedLarge);
      r.seed.push(seed);
      r.seedAdded.push(seed - bare);
    }
    for (const [i, d] of DOCS.entries()) {
      if (i >= over) break;
      const [b, h] = await pair((v) => s.docs(bash, v, d.bytes, d.count, o.docLimit));
      if (b === undefined || h === undefined) {
        over = i;
        break;
      }
      r.doc[i]!.push(h.after - b.after);
      r.read[i]!.push(h.read - b.read);
      r.bareRead[i]!.push(b.read);
    }
    const docNow = DOCS.map((d, i) => `${kib(d.bytes)} ${i < over ? `${fmt(r.doc[i]!.at(-1)!, 2)} ms` : i === over ? `over ${o.docLimit} s` : "not run"}`);
    log(`bash ${bash.version}: round ${round + 1}/${o.rounds}: ${fmt(hook - bare, 0)} µs added per prompt (${fmt(stamp - bare, 0)} to the daemon), ${docNow.join(", ")} (${elapsed(t0)})`);
  }
  let instr: number | undefined;
  let stampInstr: number | undefined;
  if (Bun.which("valgrind")) {
    // A fork under valgrind costs a second: a forking hook types 50 more commands, not hundreds (a count needs no more).
    const [n1, n2] = forking ? [o.forkSmall, o.forkSmall + 50] : [o.cgSmall, o.cgLarge];
    const bareInstr = await s.instructions(bash, "bare", n1, n2);
    instr = (await s.instructions(bash, "hook", n1, n2)) - bareInstr;
    stampInstr = (await s.instructions(bash, "stamp", n1, n2)) - bareInstr;
    log(`bash ${bash.version}: ${fmt(instr, 0)} instructions added per prompt, ${fmt(stampInstr, 0)} to the daemon (${elapsed(t0)})`);
  }
  const rows: Row[] = [{
    name: bash.version, n: `${large}−${small}`, bareUs: median(r.bare), us: median(r.hook), addedUs: median(r.added),
    forks: calls.forks, execs: calls.execs, instr,
    docs: DOCS.map((d, i): Doc =>
      i < over ? { ms: median(r.doc[i]!), readMs: median(r.read[i]!), bareReadMs: median(r.bareRead[i]!) } : i === over ? { overMs: (o.docLimit * 1e3) / d.count } : { notRun: true }
    ),
  }, {
    name: `${bash.version} → daemon`, n: `${large}−${small}`, bareUs: median(r.bare), us: median(r.stamp), addedUs: median(r.stampAdded),
    forks: stampCalls.forks, execs: stampCalls.execs, instr: stampInstr, candidate: true,
  }];
  if (withSeed) {
    // The seed's cost is its forks and the programs they run, which callgrind of bash does not see.
    rows.push({ name: `2018 seed hook, bash ${bash.version}`, n: `${o.seedLarge}−${o.seedSmall}`, bareUs: median(r.bare), us: median(r.seed), addedUs: median(r.seedAdded), forks: seedCalls!.forks, execs: seedCalls!.execs });
  }
  return rows;
}

export async function benchHook(o: HookBenchOptions) {
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-bench-hook-"));
  const s = new Sessions(dir, o.lang);
  const valgrind = Bun.which("valgrind") !== null;
  log(`${BASHES.length} bash version(s): ${BASHES.map((b) => b.version).join(", ")}; in ${dir}`);
  const rows: Row[] = [];
  try {
    for (const bash of BASHES) rows.push(...(await benchVersion(s, bash, o, bash === BASHES.at(-1))));
  } finally {
    s.daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const ours = rows.find((r) => r.name === BASHES.at(-1)!.version)!;
  const seed = rows.find((r) => r.name.startsWith("2018 seed"));
  const dash = "—";
  printTable(
    `Hook cost on every bash (${BASHES.map((b) => b.version).join(", ")}): CPU time (shell + children) on a pty, hook minus bare prompt, median of ${o.rounds} rounds`,
    [
      "bash", "commands", "bare µs/prompt", "hook µs/prompt", "µs added", "forks/prompt", "execs/prompt", "instructions added/prompt",
      ...DOCS.map((d) => `${kib(d.bytes)}: ms added`), `${kib(DOCS.at(-1)!.bytes)} read: ms added of bare`,
    ],
    rows.map((r) => [
      r.name, r.n, fmt(r.bareUs, 0), fmt(r.us, 0), fmt(r.addedUs, 0), fmt(r.forks, 2), fmt(r.execs, 2),
      r.instr === undefined ? dash : fmt(r.instr, 0),
      ...DOCS.map((_, i) => showDoc(r.docs?.[i])), showRead(r.docs?.at(-1)),
    ]),
  );
  console.log(
    [
      `Settings: LANG=${o.lang}; no-op commands typed large−small ("commands"; a hook forking per prompt ${o.forkLarge}−${o.forkSmall}, the seed ${o.seedLarge}−${o.seedSmall});`,
      `"µs added" and "ms added": the median of each round's hook − bare (so not always the difference of the medians beside them);`,
      `strace 120−20 commands (the seed 70−20); callgrind ${valgrind ? `${o.cgLarge}−${o.cgSmall} (a hook forking per prompt ${o.forkSmall + 50}−${o.forkSmall}; bash's own instructions, not its children's)` : "not installed"};`,
      `here-documents ${DOCS.map((d) => `${kib(d.bytes)} ×${d.count}`).join(", ")} per session, killed after ${o.docLimit} s; hook: ${HOOK}; "→ daemon": the same hook writing to the stamping daemon (in the bench process, its CPU not counted), no here-documents.`,
      `"ms added" of a long command: from when bash has read it to the next prompt (the command, the hook's PROMPT_COMMAND).`,
      `"read": while bash reads it (PS0 included), hook minus bare, of what bash alone spends reading it on a pty; the same work`,
      `with and without the hook, so mostly the noise of that much larger figure. The targets use "ms added".`,
    ].join("\n"),
  );
  if (seed) console.log(`Reference: the 2018 seed adds ${fmt(seed.addedUs, 0)} µs per prompt on bash ${ours.name}, ${fmt(seed.addedUs / Math.max(ours.addedUs, 0.001), 0)}× the hook's ${fmt(ours.addedUs, 0)} µs.`);
  const misses: string[] = [];
  for (const r of rows) {
    if (!r.docs && !r.candidate) continue; // the seed is a reference, not a candidate
    const why: string[] = [];
    if (r.addedUs > TARGETS.usAdded) why.push(`${fmt(r.addedUs, 0)} µs added per prompt`);
    if (r.forks > TARGETS.forks) why.push(`${fmt(r.forks, 2)} forks per prompt`);
    const mib = r.docs?.[DOCS.length - 1];
    if (!mib) {
      // no here-documents measured
    } else if ("ms" in mib && mib.ms > TARGETS.msAdded1MiB) why.push(`${fmt(mib.ms, 0)} ms added by a 1 MiB command`);
    else if ("overMs" in mib) why.push(`a 1 MiB command killed after ${o.docLimit} s`);
    else if ("notRun" in mib) why.push(`1 MiB not run (a smaller command took over ${o.docLimit} s)`);
    if (why.length) misses.push(`  bash ${r.name}: ${why.join("; ")}`);
  }
  console.log(`Targets: ≤ ${TARGETS.usAdded} µs added and ${TARGETS.forks} forks per prompt, ≤ ${TARGETS.msAdded1MiB} ms added by a 1 MiB command, on every version.`);
  console.log(misses.length ? `Missed by ${misses.length} of ${rows.filter((r) => r.docs || r.candidate).length} rows:\n${misses.join("\n")}` : "Every version meets them.");
  console.log(`Wall time of the hook bench: ${elapsed(t0)}.`);
  return rows;
}
