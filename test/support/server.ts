import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../server/src/main.ts", import.meta.url));

export interface RunningServer {
  url: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Every stdout line so far (JSON logs). */
  logs: string[];
  stop(): Promise<number>;
}

/** The real server process (server/src/main.ts) with only the given environment. */
export function spawnServer(env: Record<string, string>, args: string[] = []): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  return Bun.spawn(["bun", MAIN, ...args], {
    // No age bound on record times unless a test sets one: fixtures are dated 2018-2024.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", CMDAUDIT_PORT: "0", CMDAUDIT_MAX_AGE_DAYS: "0", ...env },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
}

/**
 * Start the real server on a free port (CMDAUDIT_PORT=0) and wait for its "listening" log line.
 * The deadline holds even when the process prints nothing: a server that hangs before
 * listening is killed, not waited for.
 */
export async function startServer(env: Record<string, string>, args: string[] = [], timeoutMs = 30_000): Promise<RunningServer> {
  const proc = spawnServer(env, args);
  const logs: string[] = [];
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let url: string | undefined;
  const take = (chunk: Uint8Array) => {
    buf += dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      logs.push(line);
      url ??= /"msg":"listening","url":"([^"]+)"/.exec(line)?.[1];
    }
  };
  const deadline = Date.now() + timeoutMs;
  let waker: ReturnType<typeof setTimeout> | undefined;
  try {
    while (!url) {
      const timeout = new Promise<"timeout">((r) => { waker = setTimeout(() => r("timeout"), Math.max(0, deadline - Date.now())); });
      const chunk = await Promise.race([reader.read(), timeout]);
      clearTimeout(waker);
      if (chunk === "timeout") throw new Error(`server did not listen within ${timeoutMs} ms`);
      if (chunk.done) throw new Error(`server exited before listening: ${await new Response(proc.stderr).text()}`);
      take(chunk.value);
    }
  } catch (e) {
    proc.kill("SIGKILL");
    await proc.exited;
    throw e;
  }
  // Keep collecting logs in the background.
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      take(value);
    }
  })();
  return {
    url: url!,
    proc,
    logs,
    async stop() {
      proc.kill("SIGTERM");
      return proc.exited;
    },
  };
}
