import type { Config } from "../config.ts";
import type { ConsoleUser, Store } from "../db/store.ts";

/** A host pattern (`web-*`) as a whole-name matcher; `*` is the only wildcard. */
function matcher(pattern: string): (host: string) => boolean {
  const re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "i");
  return (h) => re.test(h);
}

/** Every host: admins, and readers given the `*` group. */
export function seesAll(user: ConsoleUser): boolean {
  return user.role === "admin" || user.hostGroups.includes("*");
}

/**
 * The hosts a reader may see: those of the reporting hosts that a pattern of one of their groups
 * matches. undefined: every host. A group missing from the config gives nothing.
 */
export async function visibleHosts(user: ConsoleUser, config: Config, store: Store): Promise<string[] | undefined> {
  if (seesAll(user)) return undefined;
  const tests = user.hostGroups.flatMap((g) => config.console.host_groups[g] ?? []).map(matcher);
  if (!tests.length) return [];
  return (await store.hosts()).map((h) => h.hostname).filter((h) => tests.some((t) => t(h)));
}

/** May this user see this one host? */
export async function mayView(user: ConsoleUser, config: Config, store: Store, host: string): Promise<boolean> {
  const hosts = await visibleHosts(user, config, store);
  return hosts === undefined || hosts.includes(host);
}
