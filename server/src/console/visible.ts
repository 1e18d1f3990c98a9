import type { Config } from "../config.ts";
import type { ConsoleUser, Store } from "../db/store.ts";
import { hostPatterns } from "../host-patterns.ts";

/** Every host: admins, and readers given the `*` group. */
export function seesAll(user: ConsoleUser): boolean {
  return user.role === "admin" || user.hostGroups.includes("*");
}

/** The host names a user may see, by their groups' patterns (a group missing from the config gives nothing). */
function mayViewName(user: ConsoleUser, config: Config): (host: string) => boolean {
  if (seesAll(user)) return () => true;
  return hostPatterns(user.hostGroups.flatMap((g) => config.console.host_groups[g] ?? []));
}

/** The reporting hosts a user may see; undefined: every host (no list to filter by). */
export async function visibleHosts(user: ConsoleUser, config: Config, store: Store): Promise<string[] | undefined> {
  if (seesAll(user)) return undefined;
  return (await store.hosts()).map((h) => h.hostname).filter(mayViewName(user, config));
}

/** May this user see this one host? Its name decides; nothing is read. */
export function mayView(user: ConsoleUser, config: Config, host: string): boolean {
  return mayViewName(user, config)(host);
}
