import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../server/src/main.ts", import.meta.url));

export interface RunningServer {
  url: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Every stdout line so far (JSON logs). */
  logs: string[];
  stop(): Promise<number>;
}

/** Start the real server process on a free port (CMDAUDIT_PORT=0) and wait for its "listening" log line. */
export async function startServer(env: Record<string, string>, args: string[] = []): Promise<RunningServer> {
  const proc = Bun.spawn(["bun", MAIN, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", CMDAUDIT_PORT: "0", ...env },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const logs: string[] = [];
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let url: string | undefined;
  const deadline = Date.now() + 30_000;
  while (!url) {
    if (Date.now() > deadline) throw new Error("server did not start in 30 s");
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before listening: ${await new Response(proc.stderr).text()}`);
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      logs.push(line);
      const m = /"msg":"listening","url":"([^"]+)"/.exec(line);
      if (m) url = m[1];
    }
  }
  // Keep collecting logs in the background.
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) { logs.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
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
