import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DecodeEvent, LogDecoder, lines, type LogRecord } from "../../protocol/index.ts";
import { BASHES, type Bash } from "../support/bashes.ts";

export { atLeast, BASHES, type Bash } from "../support/bashes.ts";

/**
 * `argv` run with `bash` bind-mounted over /usr/bin/bash and /bin/bash in a private mount namespace
 * (`su -`, `script -c bash` and login shells then start this version; nothing outside changes).
 */
export function asSystemBash(bash: Bash, argv: string[]): string[] {
  if (bash.version === "system") return argv;
  const binds = ["/usr/bin/bash", "/bin/bash"].map((t) => `[ -e ${t} ] && mount --bind ${bash.path} ${t}`).join("; ");
  return ["unshare", "-m", "--propagation", "private", "sh", "-c", `${binds}; exec "$@"`, "sh", ...argv];
}

export const HOOK = fileURLToPath(new URL("../../ansible/roles/cmdaudit_hook/files/etc/profile.d/00-cmdaudit.sh", import.meta.url));

/** A temporary root: the hook as installed, with its log path moved under the root. */
export interface HookRoot {
  dir: string;
  hook: string;
  log: string;
}

export function hookRoot(opts: { log?: string } = {}): HookRoot {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-hook-"));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "var/log/cmdaudit"), { recursive: true, mode: 0o755 });
  mkdirSync(join(dir, "etc/profile.d"), { recursive: true });
  const log = opts.log ?? join(dir, "var/log/cmdaudit/commands.log");
  const src = readFileSync(HOOK, "utf8");
  const line = /^__cmdaudit_log=\/var\/log\/cmdaudit\/commands\.log .*$/m;
  if (!line.test(src)) throw new Error("hook has no `__cmdaudit_log=` line to point at the test root");
  const hook = join(dir, "etc/profile.d/00-cmdaudit.sh");
  writeFileSync(hook, src.replace(line, `__cmdaudit_log=${log}`), { mode: 0o644 });
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
}

/**
 * Type `input` into a real interactive bash on a pty (util-linux `script`), as a
 * user would. `--noediting` so TABs are characters, not completion; each typed
 * line must stay below the tty's 4095-byte canonical line limit.
 */
export async function typeInto(
  rc: string,
  input: string | Uint8Array | (string | Uint8Array)[],
  opts: { bash?: Bash; env?: Record<string, string>; loginuid?: number; asUser?: string; timeoutMs?: number; cwd?: string; byName?: boolean } = {},
): Promise<Typed> {
  const bash = opts.bash ?? BASHES.at(-1)!;
  let argv = ["script", "-qec", `${opts.byName ? "bash" : bash.path} --noediting --rcfile ${rc} -i`, "/dev/null"];
  if (opts.asUser) argv = ["runuser", "-u", opts.asUser, "--", ...argv];
  // Code that runs `bash` by name (`su -`, a login shell) gets this version through a private mount namespace.
  if (opts.byName) argv = asSystemBash(bash, argv);
  // A login sets the kernel's audit loginuid (pam_loginuid); root may set it once for a fresh process.
  if (opts.loginuid !== undefined) argv = ["sh", "-c", `echo ${opts.loginuid} > /proc/self/loginuid && exec "$@"`, "sh", ...argv];
  // Several chunks are typed 0.5 s apart: the tty applies its settings (stty) when input arrives.
  const chunks = Array.isArray(input) ? input : [input];
  const bytes = (c: string | Uint8Array) => (typeof c === "string" ? Buffer.from(c) : c);
  const proc = Bun.spawn(argv, {
    stdin: chunks.length === 1 ? bytes(chunks[0]!) : "pipe",
    cwd: opts.cwd ?? process.env.HOME ?? "/",
    stdout: "pipe", stderr: "pipe",
    env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: process.env.HOME ?? "/root", TERM: "dumb", LANG: "C.UTF-8", ...opts.env },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  if (chunks.length > 1) {
    const sink = proc.stdin as Bun.FileSink;
    (async () => {
      for (const [i, c] of chunks.entries()) {
        if (i > 0) await Bun.sleep(500);
        sink.write(bytes(c));
        await sink.flush();
      }
      await sink.end();
    })();
  }
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { output: out + err, code };
}

export interface Decoded {
  records: LogRecord[];
  damaged: DecodeEvent[];
  foreign: DecodeEvent[];
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
  const out: Decoded = { records: [], damaged: [], foreign: [] };
  const take = (e: DecodeEvent) => {
    if (e.type === "record") out.records.push(e.record);
    else if (e.type === "damaged") out.damaged.push(e);
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
