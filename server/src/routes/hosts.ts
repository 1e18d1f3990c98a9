import { createRoute } from "@hono/zod-openapi";
import { formatCommandTime, type Host, type HostState, hostsAnswerSchema } from "../../../protocol/index.ts";
import type { AppDeps } from "../app.ts";
import type { Config } from "../config.ts";
import type { HostSummary } from "../db/store.ts";
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

/** Hosts most silent first, each with its state and seconds of silence now (the API's and the console's hosts lists). */
export function bySilence(hosts: HostSummary[], config: Config): (HostSummary & { state: HostState; silentSeconds: number | null })[] {
  const nowUs = Date.now() * 1000;
  const silentAfterUs = config.hosts.silent_after_seconds * 1e6;
  return hosts
    .sort((a, b) => a.lastStoredUs - b.lastStoredUs || (a.hostname < b.hostname ? -1 : 1))
    .map((h) => ({
      ...h,
      state: nowUs - h.lastStoredUs <= silentAfterUs ? "live" as const : nowUs - h.lastReceivedUs <= silentAfterUs ? "stalled" as const : "silent" as const,
      silentSeconds: h.lastStoredUs > 0 ? Math.floor((nowUs - h.lastStoredUs) / 1e6) : null,
    }));
}

/**
 * Every reporting host, most silent first, so one that stopped reporting stands out. A host is
 * live only while new records of it are stored: a reporter resending what is already stored
 * (a wedged backlog) keeps `lastReceived` fresh but is `stalled`, not live.
 */
export function hostsRoutes(deps: AppDeps) {
  return newRouter().openapi(listHosts(deps), async (c) => {
    const hosts = bySilence(await deps.store.hosts(), deps.config)
      .map((h): Host => ({
        hostname: h.hostname,
        serverIps: h.serverIps,
        records: h.records,
        firstSeen: time(h.firstSeenUs),
        lastSeen: time(h.lastSeenUs),
        lastStored: time(h.lastStoredUs),
        lastReceived: time(h.lastReceivedUs),
        silentSeconds: h.silentSeconds,
        state: h.state,
        ingestAuth: h.ingestAuth,
        losses: h.losses,
        rejected: h.rejected,
        reporter: h.reporter,
      }));
    return c.json({ hosts }, 200);
  });
}
