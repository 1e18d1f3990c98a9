/**
 * The backtest's matcher, in a worker of its own: a rule's regex from a request could take far
 * longer than it should on some text, and only a worker can be stopped in the middle of one match.
 * Messages in: { rule } once, then { batch: RuleInput[] }; out: { matched: number[] } (indexes).
 */
import { activeRules, compileRule, matchRecord, type Rule, type RuleConfig, type RuleInput } from "./rules.ts";

declare const self: Worker;

let rule: Rule | undefined;
self.onmessage = (e: MessageEvent<{ rule: RuleConfig | string } | { batch: RuleInput[] }>) => {
  const m = e.data;
  if ("rule" in m) {
    rule = typeof m.rule === "string" ? activeRules({ rules: [], disabled_builtins: [] }).find((r) => r.id === m.rule) : compileRule(m.rule);
    return;
  }
  const r = rule!;
  const matched: number[] = [];
  m.batch.forEach((input, i) => { if (matchRecord([r], input).length) matched.push(i); });
  self.postMessage({ matched });
};
