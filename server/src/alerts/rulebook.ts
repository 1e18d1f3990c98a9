/**
 * The rules in force: the built-in ones not turned off, the config's, and those added through the
 * admin API (kept in the database, so every server of a fleet sees them: each re-reads them at
 * most `refreshMs` after a change elsewhere, at once after a change of its own).
 */
import type { Store } from "../db/store.ts";
import type { Logger } from "../log.ts";
import { BUILTIN_RULES } from "./builtin-rules.ts";
import { activeRules, compileRule, type Rule, type RuleConfig, ruleSchema } from "./rules.ts";

export type RuleSource = "builtin" | "config" | "api";

export interface RuleEntry {
  rule: Rule;
  source: RuleSource;
  /** The rule's own definition (config and API rules); undefined for a built-in. */
  config?: RuleConfig;
  updatedUs?: number;
}

export class RuleBook {
  private entries: RuleEntry[] = [];
  /** The rules in force, one array until they change: matchRecord keeps its line filter per array. */
  private inForce: Rule[] = [];
  private loadedAt = -Infinity;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly config: { rules: RuleConfig[]; disabled_builtins: string[] },
    private readonly store: Store,
    private readonly logger?: Logger,
    private readonly refreshMs = 10_000,
  ) {
    this.setEntries(this.compose([]));
  }

  /** The rules to match now; re-read from the database when the last read is older than refreshMs. */
  async current(): Promise<Rule[]> {
    if (performance.now() - this.loadedAt > this.refreshMs) await this.refresh();
    return this.inForce;
  }

  /** Every rule, those in force and the API's turned off (`config.enabled` false). */
  async list(): Promise<RuleEntry[]> {
    await this.current();
    return this.entries;
  }

  /** A rule id the config or the built-ins own: the API may not add or remove it. */
  ownedByConfig(id: string): boolean {
    return this.config.rules.some((r) => r.id === id) || BUILTIN_RULES.some((b) => b.id === id);
  }

  refresh(): Promise<void> {
    // One read at a time; callers during it wait for that one.
    this.loading ??= (async () => {
      try {
        const rows = await this.store.storedRules();
        const stored: { config: RuleConfig; updatedUs: number }[] = [];
        for (const row of rows) {
          const parsed = ruleSchema.safeParse(JSON.parse(row.body));
          if (parsed.success) stored.push({ config: parsed.data, updatedUs: row.updatedUs });
          // Written through the API's own schema; one that no longer parses (a later version's) is kept out, and said.
          else this.logger?.log("warn", "a stored alert rule does not parse and is not in force", { rule: row.id });
        }
        this.setEntries(this.compose(stored));
        this.loadedAt = performance.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  private setEntries(entries: RuleEntry[]) {
    this.entries = entries;
    this.inForce = entries.filter((e) => e.config?.enabled ?? true).map((e) => e.rule);
  }

  private compose(stored: { config: RuleConfig; updatedUs: number }[]): RuleEntry[] {
    const builtins = activeRules({ rules: [], disabled_builtins: this.config.disabled_builtins });
    return [
      ...builtins.map((rule): RuleEntry => ({ rule, source: "builtin" })),
      ...this.config.rules.filter((r) => r.enabled).map((config): RuleEntry => ({ rule: compileRule(config), source: "config", config })),
      ...stored.filter((s) => !this.ownedByConfig(s.config.id))
        .map((s): RuleEntry => ({ rule: compileRule(s.config), source: "api", config: s.config, updatedUs: s.updatedUs })),
    ];
  }
}
