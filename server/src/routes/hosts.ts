import { createRoute } from "@hono/zod-openapi";
import { formatCommandTime, type Host, hostsAnswerSchema } from "../../../protocol/index.ts";
import type { AppDeps } from "../app.ts";
import { errors, json, newRouter, tokenRequired } from "../openapi.ts";

const time = (us: number) => (us > 0 ? formatCommandTime(us, null) : null);

const listHosts = (deps: AppDeps) => createRoute({
  method: "get", path: "/", operationId: "listHosts", tags: ["query"],
  summary: "Every reporting host, most silent first (read token)",
  ...tokenRequired(deps.tokens.read),
  responses: {
    200: json(hostsAnswerSchema, "The hosts."),
    401: errors[401],
  },
});

/**
 * Every reporting host, most silent first, so one that stopped reporting stands out. A host is
 * live only while new records of it are stored: a reporter resending what is already stored
 * (a wedged backlog) keeps `lastReceived` fresh but is `stalled`, not live.
 */
export function hostsRoutes(deps: AppDeps) {
  const silentAfterUs = deps.config.hosts.silent_after_seconds * 1e6;
  return newRouter().openapi(listHosts(deps), async (c) => {
    const nowUs = Date.now() * 1000;
    const hosts = (await deps.store.hosts())
      .sort((a, b) => a.lastStoredUs - b.lastStoredUs || (a.hostname < b.hostname ? -1 : 1))
      .map((h): Host => ({
        hostname: h.hostname,
        serverIps: h.serverIps,
        records: h.records,
        firstSeen: time(h.firstSeenUs),
        lastSeen: time(h.lastSeenUs),
        lastStored: time(h.lastStoredUs),
        lastReceived: time(h.lastReceivedUs),
        silentSeconds: h.lastStoredUs > 0 ? Math.floor((nowUs - h.lastStoredUs) / 1e6) : null,
        state: nowUs - h.lastStoredUs <= silentAfterUs ? "live" : nowUs - h.lastReceivedUs <= silentAfterUs ? "stalled" : "silent",
        ingestAuth: h.ingestAuth,
        losses: h.losses,
        rejected: h.rejected,
        reporter: h.reporter,
      }));
    return c.json({ hosts }, 200);
  });
}
