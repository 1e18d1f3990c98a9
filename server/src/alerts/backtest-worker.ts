/**
 * The backtest's matcher, in a worker of its own: a rule's regex from a request could take far
 * longer than it should on some text, and only a worker can be stopped in the middle of one match.
 * Messages in: { rule } once, then { batch: RuleInput[] }; out: { matched: number[] } (indexes).
 */
import { activeRules, compileRule, matchRecord, type Rule, type RuleConfig, type RuleInput } from "./rules.ts";

declare const self: Worker;

/** The one rule, as one set for all batches (matchRecord works out a set's line filter once). */
let rules: Rule[] = [];
self.onmessage = (e: MessageEvent<{ rule: RuleConfig | string } | { batch: RuleInput[] }>) => {
  const m = e.data;
  if ("rule" in m) {
    const rule = typeof m.rule === "string" ? activeRules({ rules: [], disabled_builtins: [] }).find((r) => r.id === m.rule) : compileRule(m.rule);
    rules = rule ? [rule] : [];
    return;
  }
  const matched: number[] = [];
  m.batch.forEach((input, i) => { if (matchRecord(rules, input).length) matched.push(i); });
  self.postMessage({ matched });
};
