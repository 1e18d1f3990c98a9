import type { Config } from "../config.ts";
import type { ConsoleUser, Store } from "../db/store.ts";
import { hostPatterns } from "../host-patterns.ts";


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
  const patterns = user.hostGroups.flatMap((g) => config.console.host_groups[g] ?? []);
  if (!patterns.length) return [];
  const visible = hostPatterns(patterns);
  return (await store.hosts()).map((h) => h.hostname).filter(visible);
}

/** May this user see this one host? */
export async function mayView(user: ConsoleUser, config: Config, store: Store, host: string): Promise<boolean> {
  const hosts = await visibleHosts(user, config, store);
  return hosts === undefined || hosts.includes(host);
}
