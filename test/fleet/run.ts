// Small process helpers for the fleet: run a command, fail loudly with its output.

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  stdin?: string | Uint8Array;
  env?: Record<string, string>;
  timeoutMs?: number;
  cwd?: string;
}

const BASE_ENV = (): Record<string, string> => ({
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: process.env.HOME ?? "/root",
  LANG: "C.UTF-8",
});

/** Run argv, never throw for a non-zero exit; SIGKILL after timeoutMs (default 60 s). */
export async function run(argv: string[], opts: RunOpts = {}): Promise<RunResult> {
  const proc = Bun.spawn(argv, {
    stdin: opts.stdin === undefined ? "ignore" : typeof opts.stdin === "string" ? Buffer.from(opts.stdin) : opts.stdin,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...BASE_ENV(), ...opts.env },
    cwd: opts.cwd ?? "/",
  });
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code: timedOut ? 124 : code, stdout, stderr: timedOut ? `${stderr}\n(killed after ${timeoutMs} ms)` : stderr };
}

/** Run argv and throw (with its output) unless it exits 0. */
export async function must(argv: string[], opts: RunOpts = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}\n${r.stderr}${r.stdout}`.trimEnd());
  return r.stdout;
}

/** Synchronous variant for exit handlers (no promises run there). */
export function runSync(argv: string[], timeoutMs = 30_000): RunResult {
  const r = Bun.spawnSync(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: BASE_ENV(), timeout: timeoutMs });
  return { code: r.exitCode ?? 1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
