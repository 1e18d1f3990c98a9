import { Hono } from "hono";
import { formatCommandTime } from "../../../protocol/index.ts";
import type { AppDeps } from "../app.ts";
import { requireToken } from "../auth.ts";

/** Every reporting host, most silent first, so one that stopped reporting stands out. */
export function hostsRoutes(deps: AppDeps) {
  return new Hono()
    .use(requireToken(deps.tokens.read))
    .get("/", async (c) => {
      const nowUs = Date.now() * 1000;
      const hosts = (await deps.store.hosts())
        .sort((a, b) => a.lastReceivedUs - b.lastReceivedUs || (a.hostname < b.hostname ? -1 : 1))
        .map((h) => ({
          hostname: h.hostname,
          serverIps: h.serverIps,
          records: h.records,
          firstSeen: h.firstSeenUs > 0 ? formatCommandTime(h.firstSeenUs, null) : null,
          lastSeen: h.lastSeenUs > 0 ? formatCommandTime(h.lastSeenUs, null) : null,
          lastReceived: h.lastReceivedUs > 0 ? formatCommandTime(h.lastReceivedUs, null) : null,
          silentSeconds: h.lastReceivedUs > 0 ? Math.floor((nowUs - h.lastReceivedUs) / 1e6) : null,
        }));
      return c.json({ hosts });
    });
}
