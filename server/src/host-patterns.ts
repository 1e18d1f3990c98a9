/** Host name patterns (`web-*`, `db1`): whole names, case-insensitive, `*` the only wildcard. Used by the console's host groups and alert rules. */
export function hostPatterns(patterns: readonly string[]): (host: string) => boolean {
  const res = patterns.map((p) => new RegExp(`^${p.split("*").map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "i"));
  return (h) => res.some((r) => r.test(h));
}
