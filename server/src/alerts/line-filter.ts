/**
 * The cheap test that spares most lines the normaliser: a line can match a rule that looks at its
 * commands only when one of those rules' programs or mentions shows in the text. Sound because the
 * normaliser (normalize.ts) builds every word from the text's own characters, in order, leaving out
 * only quotes and the backslashes of escapes: with those removed from the text, each word of each
 * simple command (nested ones too) is a run of it. A program is a whole word or what follows its
 * last `/`, so it stands between separators there. Two constructions do splice words together from
 * pieces that are not adjacent, a backtick substitution inside a word and a backslash-newline; a
 * line holding either is always normalised.
 */
import type { Rule } from "./rules.ts";

/** What can stand before a program in the text: the start, a `/`, or a character that ends a word. */
const BEFORE = String.raw`(?<![^\s|;&(){}/])`;
/** What can follow a program: the end, or a character that ends a word. */
const AFTER = String.raw`(?![^\s|;&(){}])`;
const SPLICES = /`|\\\n/;
const QUOTING = /['"\\]/g;
const QUOTED = /['"\\]/;

/** A name as the stripped text shows it: quotes in a rule's name are gone from the text too. */
const escape = (s: string) => s.replace(QUOTING, "").replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

/** A line the filter cannot judge (it splices words): every rule that looks at commands is tried. */
export const EVERY_RULE = Symbol("every rule");

/**
 * What the filter saw in a line: undefined when no rule that looks at commands can match it;
 * EVERY_RULE; or the text with quotes and backslashes removed, in which each rule's mentions are
 * looked for (mentionsShow).
 */
export type Seen = undefined | typeof EVERY_RULE | string;
export type LineFilter = (text: string) => Seen;

/** A rule's mentions as the stripped text shows them (undefined: it has none). */
export const mentionsOf = (r: Pick<Rule, "mentions">): string[] | undefined =>
  r.mentions?.length ? r.mentions.map((m) => m.replace(QUOTING, "")) : undefined;

/** Whether one of a rule's mentions (mentionsOf) shows in what the filter saw. */
export function mentionsShow(mentions: string[] | undefined, seen: Seen): boolean {
  if (seen === EVERY_RULE || mentions === undefined) return true;
  if (seen === undefined) return false;
  for (const m of mentions) if (seen.includes(m)) return true;
  return false;
}

/**
 * The filter for a set of rules: a line passes when it holds a mention of a rule that has them, or
 * a program of one that has none. Every line passes (EVERY_RULE) when a rule that looks at
 * commands says neither its programs as names nor its mentions.
 */
export function lineFilter(rules: readonly Rule[]): LineFilter {
  const programs = new Set<string>();
  const mentions = new Set<string>();
  for (const r of rules) {
    if (!seesCommands(r)) continue;
    const m = mentionsOf(r);
    if (m) for (const x of m) mentions.add(x);
    else if (r.programs instanceof Set) for (const p of r.programs) programs.add(p);
    else return () => EVERY_RULE;
  }
  const parts = [
    ...(programs.size ? [`${BEFORE}(?:${[...programs].map(escape).join("|")})${AFTER}`] : []),
    ...[...mentions].map(escape),
  ];
  if (!parts.length) return () => undefined;
  const needle = new RegExp(parts.join("|"));
  return (text) => {
    if (SPLICES.test(text)) return EVERY_RULE;
    const seen = QUOTED.test(text) ? text.replace(QUOTING, "") : text;
    return needle.test(seen) ? seen : undefined;
  };
}

/** A rule sees a line's commands when it names programs or mentions; any other looks at the record alone. */
export function seesCommands(r: Pick<Rule, "programs" | "mentions">): boolean {
  return r.programs !== undefined || r.mentions !== undefined;
}
