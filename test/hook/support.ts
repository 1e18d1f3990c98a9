import { afterAll } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOOK_FILE, withLogPath, withStampPort } from "../../agent/hook/log-path.ts";
import { type DecodeEvent, LogDecoder, lines, type LogRecord, parseCommandTime } from "../../protocol/index.ts";
import { BASHES, type Bash } from "../support/bashes.ts";

export { atLeast, BASHES, type Bash } from "../support/bashes.ts";

/**
 * `argv` run with `bash` bind-mounted over /usr/bin/bash and /bin/bash in a private mount namespace
 * (`su -`, `script -c bash` and login shells then start this version; nothing outside changes).
 * `binds` are more [source, target] bind mounts in that namespace (e.g. a /etc/profile.d of the test's own).
 */
export function asSystemBash(bash: Bash, argv: string[], binds: [string, string][] = []): string[] {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const mount = ([src, dst]: [string, string]) => `mount --bind ${q(src)} ${q(dst)}`;
  // Every mount must succeed: a test that believes it runs bash 4.1 must not silently run the system's.
  const mounts = [
    ...(bash.version === "system" ? [] : ["/usr/bin/bash", "/bin/bash"].map((t) => `{ [ ! -e ${t} ] || ${mount([bash.path, t])}; }`)),
    ...binds.map(mount),
  ];
  if (!mounts.length) return argv;
  return ["unshare", "-m", "--propagation", "private", "sh", "-c", `${mounts.join(" && ")} && exec "$@"`, "sh", ...argv];
}

export const HOOK = HOOK_FILE;

/** A temporary root: the hook as installed, with its log path moved under the root. */
export interface HookRoot {
  dir: string;
  hook: string;
  log: string;
}

/** Every hookRoot() directory not yet removed; removeHookRoots() takes them away. */
const roots = new Set<string>();

/** `stampPort`: the hook writes to the stamping daemon on that port (default 0: the log file only). */
export function hookRoot(opts: { log?: string; stampPort?: number } = {}): HookRoot {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-hook-"));
  roots.add(dir);
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "var/log/cmdaudit"), { recursive: true, mode: 0o755 });
  mkdirSync(join(dir, "etc/profile.d"), { recursive: true });
  const log = opts.log ?? join(dir, "var/log/cmdaudit/commands.log");
  const hook = join(dir, "etc/profile.d/00-cmdaudit.sh");
  writeFileSync(hook, withStampPort(withLogPath(readFileSync(HOOK, "utf8"), log), opts.stampPort ?? 0), { mode: 0o644 });
  return { dir, hook, log };
}

/** An rc file for `bash --rcfile`: `before`, the hook, then `after` (what ~/.bashrc would do). */
export function rcFile(root: HookRoot, opts: { before?: string; after?: string; name?: string } = {}): string {
  const rc = join(root.dir, opts.name ?? "bashrc");
  writeFileSync(rc, `${opts.before ?? ""}\n. ${root.hook}\nPS1='$ '\n${opts.after ?? ""}\n`, { mode: 0o644 });
  return rc;
}

export interface Typed {
  output: string;
  code: number;
  /** Killed (with all it started) when timeoutMs ran out. */
  timedOut: boolean;
}

/**
 * Type `input` into a real interactive bash on a pty (util-linux `script`), as a
 * user would. `--noediting` so TABs are characters, not completion; each typed
 * line must stay below the tty's 4095-byte canonical line limit.
 */
export async function typeInto(
  rc: string,
  input: string | Uint8Array | (string | Uint8Array)[],
  opts: {
    bash?: Bash; env?: Record<string, string>; loginuid?: number; asUser?: string; timeoutMs?: number; cwd?: string;
    /** Start the shell as `bash` by name, the version bind-mounted over /usr/bin/bash (asSystemBash). */
    byName?: boolean;
    /** More bind mounts in that private namespace, [source, target] (byName only). */
    binds?: [string, string][];
    /** Run before chunk i (i > 0) is typed, once the shell has run the chunks before it. */
    between?: (i: number) => Promise<void>;
  } = {},
): Promise<Typed> {
  const bash = opts.bash ?? BASHES.at(-1)!;
  let argv = ["script", "-qec", `${opts.byName ? "bash" : bash.path} --noediting --rcfile ${rc} -i`, "/dev/null"];
  if (opts.asUser) argv = ["runuser", "-u", opts.asUser, "--", ...argv];
  // Code that runs `bash` by name (`su -`, a login shell) gets this version through a private mount namespace.
  if (opts.byName) argv = asSystemBash(bash, argv, opts.binds);
  else if (opts.binds?.length) throw new Error("typeInto: binds need byName");
  // A login sets the kernel's audit loginuid (pam_loginuid); root may set it once for a fresh process.
  if (opts.loginuid !== undefined) argv = ["sh", "-c", `echo ${opts.loginuid} > /proc/self/loginuid && exec "$@"`, "sh", ...argv];
  // Several chunks are typed one after another: the tty applies its settings (stty) when input arrives,
  // so a chunk is typed once the shell has shown a prompt ("$ ", PS1 of rcFile) for each line typed
  // before it, i.e. has run them (at least 0.5 s after the last, at most 10 s if no such prompt shows).
  const chunks = Array.isArray(input) ? input : [input];
  const bytes = (c: string | Uint8Array) => (typeof c === "string" ? Buffer.from(c) : c);
  const proc = spawnTracked(argv, {
    stdin: chunks.length === 1 ? bytes(chunks[0]!) : "pipe",
    cwd: opts.cwd ?? process.env.HOME ?? "/",
    stdout: "pipe", stderr: "pipe",
    env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: process.env.HOME ?? "/root", TERM: "dumb", LANG: "C.UTF-8", ...opts.env },
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killTree(proc.pid);
  }, opts.timeoutMs ?? 30_000);
  let out = "";
  const reading = (async () => {
    const utf8 = new TextDecoder();
    for await (const c of proc.stdout) out += utf8.decode(c, { stream: true });
    out += utf8.decode();
  })();
  if (chunks.length > 1) {
    const sink = proc.stdin as Bun.FileSink;
    const prompts = () => out.split("$ ").length - 1;
    (async () => {
      let lines = 0;
      for (const [i, c] of chunks.entries()) {
        if (i > 0) {
          await Bun.sleep(500);
          for (const until = Date.now() + 10_000; prompts() <= lines && Date.now() < until && !timedOut;) await Bun.sleep(20);
          await opts.between?.(i);
        }
        sink.write(bytes(c));
        await sink.flush();
        lines += bytes(c).filter((x) => x === 0x0a).length;
      }
      await sink.end();
    })().catch(() => {}); // the shell may be gone (killed on timeout) before all is typed
  }
  const [, err, code] = await Promise.all([reading, new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { output: out + err + (timedOut ? `\n[typeInto: killed after ${opts.timeoutMs ?? 30_000} ms]\n` : ""), code, timedOut };
}

/** Processes spawned by these tests that may still run: killed (with all they started) by removeHookRoots(). */
const live = new Set<number>();

/**
 * Bun.spawn in a session of its own (setsid), remembered until it exits, so killTree can end
 * it with everything it started, and removeHookRoots() whatever a test left running.
 */
export function spawnTracked<
  const In extends Bun.SpawnOptions.Writable = "ignore",
  const Out extends Bun.SpawnOptions.Readable = "pipe",
  const Err extends Bun.SpawnOptions.Readable = "inherit",
>(argv: string[], opts: Bun.SpawnOptions.SpawnOptions<In, Out, Err> = {}): Bun.Subprocess<In, Out, Err> {
  const proc = Bun.spawn<In, Out, Err>(argv, { ...opts, detached: true });
  live.add(proc.pid);
  proc.exited.then(() => live.delete(proc.pid));
  return proc;
}

/** Parent pid of every process, from /proc. */
function parents(): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold blanks and parentheses, so split after the last ")".
      const stat = readFileSync(`/proc/${e}/stat`, "latin1");
      m.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  return m;
}

/**
 * SIGKILL `pid`, its process group and every process below it, also those in sessions of their
 * own (the shell `script` starts on its pty, `su`'s shell). They are stopped first, so none
 * forks a child that escapes the count.
 */
export function killTree(pid: number): void {
  const found = new Set<number>([pid]);
  for (let grown = true; grown;) {
    grown = false;
    for (const [p, pp] of parents()) {
      if (found.has(pp) && !found.has(p)) {
        found.add(p);
        grown = true;
      }
    }
    for (const p of found) {
      try {
        process.kill(p, "SIGSTOP");
      } catch {
        // exited
      }
    }
  }
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // no such group
  }
  for (const p of found) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // exited
    }
  }
}

/**
 * Kill what the tests left running, unmount what they left mounted under their roots, and remove
 * every hookRoot() directory, also files made append-only or immutable (chattr +a/+i) in them.
 * Registered with afterAll below for the first test file that imports this module; a test file
 * importing it after another must call afterAll(removeHookRoots) itself (a module runs once a process).
 */
export async function removeHookRoots(): Promise<void> {
  for (const pid of live) killTree(pid);
  live.clear();
  if (!roots.size) return;
  const dirs = [...roots];
  roots.clear();
  const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1]?.replace(/\\040/g, " ") ?? "");
  for (const m of mounts.filter((m) => dirs.some((d) => m.startsWith(d + "/"))).sort((a, b) => b.length - a.length)) {
    Bun.spawnSync(["umount", "-l", m]);
  }
  // At once: on a busy disk one root takes tens of ms to remove, and a full run makes hundreds.
  await Promise.all(dirs.map(async (dir) => {
    try {
      await rm(dir, { recursive: true, force: true });
    } catch {
      Bun.spawnSync(["chattr", "-R", "-a", "-i", dir], { stderr: "ignore" });
      await rm(dir, { recursive: true, force: true });
    }
  }));
}

/** Time for removeHookRoots in an afterAll: hundreds of roots on a slow disk. */
export const REMOVE_ROOTS_MS = 120_000;
try {
  afterAll(removeHookRoots, REMOVE_ROOTS_MS);
} catch {
  // imported outside `bun test` (a script, the bench): its caller removes what it made
}

export interface Decoded {
  records: LogRecord[];
  damaged: DecodeEvent[];
  /** Foreign lines but the empty ones. */
  foreign: Extract<DecodeEvent, { type: "foreign" }>[];
  /** Empty lines: the hook writes one before each of its lines (docs/log-format.md, "Unfinished lines"). */
  blank: number;
}

/** Parse the whole log with the contract's decoder. */
export function readLog(path: string): Decoded {
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch {
    buf = new Uint8Array();
  }
  const d = new LogDecoder({ legacyUtcOffset: 0 });
  const out: Decoded = { records: [], damaged: [], foreign: [], blank: 0 };
  const take = (e: DecodeEvent) => {
    if (e.type === "record") out.records.push(e.record);
    else if (e.type === "damaged") out.damaged.push(e);
    else if (e.raw.length === 0) out.blank++;
    else out.foreign.push(e);
  };
  for (const { line, offset } of lines(buf)) d.push(line, offset).forEach(take);
  d.finish().forEach(take);
  return out;
}

export const text = (r: LogRecord) => Buffer.from(r.command).toString("latin1");
export const commands = (d: Decoded) => d.records.filter((r) => r.kind === "command");

/** Lines the hook itself could have printed: its names, or bash complaining about it. */
export function hookNoise(output: string): string[] {
  return output.split(/\r?\n/).filter((l) => /__cmdaudit|readonly variable|bad file descriptor|bash: .*(commands\.log|\/dev\/fd)|syntax error|command not found/i.test(l));
}

/** A record's ctime in ms since the epoch; throws if it does not parse. */
export function ctimeMs(ctime: string): number {
  const t = parseCommandTime(ctime);
  if (typeof t === "string") throw new Error(t);
  return t.tsUs / 1000;
}
