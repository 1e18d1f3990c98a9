/**
 * The silent-host rule: a host that stored nothing for longer than its usual gap between batches
 * (four times its moving average, and at least hosts.silent_after_seconds) raises one alert per
 * silence: the alert's key is the host and the time it last stored, so every server of a fleet
 * may check and the host alerts again only after it spoke and fell silent anew.
 */
import { createHash } from "node:crypto";
import type { HostSummary } from "../db/store.ts";
import { SILENT_HOST_RULE } from "./builtin-rules.ts";
import { type AlertDraft, draftFor, type RouteTarget } from "./raise.ts";
import type { Rule } from "./rules.ts";

/** How many usual gaps make a silence unusual. */
export const CADENCE_FACTOR = 4;

export function silenceLimitUs(h: Pick<HostSummary, "cadenceUs">, silentAfterSeconds: number): number {
  return Math.max(silentAfterSeconds * 1e6, CADENCE_FACTOR * h.cadenceUs);
}

export function silentHostDrafts(hosts: HostSummary[], rules: Rule[], channels: RouteTarget[], silentAfterSeconds: number, nowUs: number): AlertDraft[] {
  const rule = rules.find((r) => r.id === SILENT_HOST_RULE);
  if (!rule) return [];
  return hosts
    .filter((h) => h.lastStoredUs > 0 && nowUs - h.lastStoredUs > silenceLimitUs(h, silentAfterSeconds))
    .map((h) => draftFor(rule, {
      hostname: h.hostname, luser: "", suser: "", tsUs: h.lastStoredUs, sessionId: null, seq: null, command: "",
      oci: createHash("md5").update(`silent\u0000${h.hostname}\u0000${h.lastStoredUs}`).digest("hex"),
    }, channels));
}
