/**
 * The stamping daemon on a free port below 1024, as on a host: the hook uses a daemon only on a port
 * users cannot bind (below net.ipv4.ip_unprivileged_port_start), so tests and benches must not use
 * an ephemeral one. Needs root.
 */
import { startStampServer, type StampOptions } from "../../agent/src/stamp/server.ts";

export type StampServer = ReturnType<typeof startStampServer>;

/** `port` 0: a random free port in 600–1019; else that port. */
export function startPrivilegedStampServer(opts: Omit<StampOptions, "port"> & { port?: number }): StampServer {
  if (opts.port) return startStampServer({ ...opts, port: opts.port });
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    const port = 600 + Math.floor(Math.random() * 420);
    try {
      return startStampServer({ ...opts, port });
    } catch (e) {
      last = e; // taken: another one
    }
  }
  throw new Error(`no free port below 1024 for the stamping daemon: ${String(last)}`);
}
