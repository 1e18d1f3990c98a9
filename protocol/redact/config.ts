/** What a deployment configures: extra rules, built-ins turned off, values never redacted, the fingerprint key. */
import { z } from "zod";
import { safeRegex } from "../safe-regex.ts";
import { RULE_ID } from "./marker.ts";
import { BUILTIN_RULES, type RedactRule } from "./rules.ts";

export const redactRuleSchema = z.strictObject({
  id: z.string().regex(RULE_ID, { error: "an id holds a-z 0-9 . - (1-64 characters, lower case)" }),
  description: z.string().max(500).default(""),
  /** Only the named group `secret` is replaced: `token=(?<secret>\w+)`. */
  regex: safeRegex.refine((s) => s.includes("(?<secret>"), { error: "the regex needs a named group secret, (?<secret>…): only that part is replaced" }),
  /** The regex runs only on a command holding one of these (case-insensitive); without them it runs on every command. */
  keywords: z.array(z.string().regex(/^[\x20-\x5b\x5d-\x7e]{3,64}$/, { error: "a keyword is 3-64 printable ASCII characters other than the backslash" }).transform((k) => k.toLowerCase())).max(50).optional(),
  min_entropy: z.number().min(0).max(16).optional(),
  ignore_case: z.boolean().default(false),
});
export type RedactRuleConfig = z.input<typeof redactRuleSchema>;

export const redactorOptionsSchema = z.strictObject({
  /** The per-deployment fingerprint key. */
  key: z.string().min(32, { error: "the fingerprint key needs at least 32 characters" }),
  rules: z.array(redactRuleSchema).max(200).default([]),
  /** Built-in rule ids to turn off. */
  disabled: z.array(z.string()).max(200).default([]),
  /** A secret value any of these matches (anywhere in it: anchor with ^…$) is left as typed. */
  exceptions: z.array(safeRegex).max(200).default([]),
});
export type RedactorOptions = z.input<typeof redactorOptionsSchema>;
export type ParsedRedactorOptions = z.output<typeof redactorOptionsSchema>;

/** A validated config rule as a RedactRule. */
export function ruleFromConfig(r: z.output<typeof redactRuleSchema>): RedactRule {
  return {
    id: r.id,
    description: r.description,
    keywords: r.keywords ?? [],
    pattern: new RegExp(r.regex, r.ignore_case ? "iu" : "u"),
    ...(r.min_entropy === undefined ? {} : { minEntropy: r.min_entropy }),
  };
}

const builtinIds = () => new Set(BUILTIN_RULES.map((r) => r.id));

/**
 * A deployment's redaction settings, the same on the server (config `redact`) and the reporter
 * (config `redact`): rules of its own, built-ins turned off, values never redacted; `extra` adds
 * each side's own keys (enabled, key_file).
 */
export function redactSettingsSchema<T extends z.ZodRawShape>(extra: T) {
  return z.strictObject({
    ...extra,
    /** Rules of the deployment's own, after the built-in ones. */
    rules: z.array(redactRuleSchema).max(200).default([]),
    /** Built-in rules turned off, by id. */
    disabled: z.array(z.string()).max(200).default([])
      .refine((ids) => ids.every((id) => builtinIds().has(id)), { error: "not the id of a built-in redaction rule" }),
    /** A secret any of these matches (anywhere in it: anchor with ^…$) is kept as typed. */
    exceptions: z.array(safeRegex).max(200).default([]),
  }).refine((r) => ruleIds(r).every((id) => !builtinIds().has(id)), { path: ["rules"], error: "a rule's id is a built-in redaction rule's" })
    .refine((r) => new Set(ruleIds(r)).size === ruleIds(r).length, { path: ["rules"], error: "two rules have one id" });
}

/** The ids of the settings' own rules. The object is the schema's output; TypeScript cannot name that type through the generic `extra`. */
const ruleIds = (settings: object) => (settings as { rules: { id: string }[] }).rules.map((r) => r.id);
