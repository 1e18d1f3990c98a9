/**
 * Alert rules: the built-in ones (builtin-rules.ts) and the config's own, each matched against a
 * record's normalised command (normalize.ts) within its scope and outside its exceptions.
 */
import { z } from "zod";
import type { RecordKind } from "../../../protocol/index.ts";
import { SEVERITY_NAMES } from "../../../protocol/http.ts";
import { safeRegex } from "../../../protocol/safe-regex.ts";
import { hostPatterns } from "../host-patterns.ts";
import { BUILTIN_RULES } from "./builtin-rules.ts";
import { type LineFilter, lineFilter, mentionsOf, mentionsShow, type Seen, seesCommands } from "./line-filter.ts";
import { normalize, type SimpleCommand } from "./normalize.ts";

export const SEVERITIES = SEVERITY_NAMES;
export type Severity = (typeof SEVERITIES)[number];

/** What a rule sees of a record. */
export interface RuleInput {
  command: string;
  kind: RecordKind;
  flags: string[];
  hostname: string;
  luser: string;
  suser: string;
}

/** Only the start of a long command is matched: a rule's regex runs on at most this many characters. */
export const MATCH_CHARS = 8192;


const hostPattern = z.string().min(1).max(253);
const name = z.string().min(1).max(64);

export const ruleSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, { error: "an id holds a-z 0-9 . _ - (1-64 characters, lower case)" }),
  severity: z.enum(SEVERITIES).default("warning"),
  description: z.string().max(500).default(""),
  /** Program names the normalised command runs (any of them): `reboot` matches `sudo /sbin/reboot`. */
  command: z.union([name, z.array(name).min(1).max(50)]).optional(),
  /** With `command`: a regex on that command's arguments, joined by single spaces. */
  args: safeRegex.optional(),
  /** A regex on the command text as typed. */
  regex: safeRegex.optional(),
  hosts: z.array(hostPattern).max(1000).optional(),
  users: z.array(name).max(1000).optional(),
  except: z.strictObject({
    hosts: z.array(hostPattern).max(1000).optional(),
    users: z.array(name).max(1000).optional(),
    regex: safeRegex.optional(),
  }).optional(),
  enabled: z.boolean().default(true),
}).refine((r) => r.command !== undefined || r.regex !== undefined, { error: "a rule needs command (program names) or regex" })
  .refine((r) => r.args === undefined || r.command !== undefined, { error: "args: only with command" });
export type RuleConfig = z.infer<typeof ruleSchema>;

/** Programs a rule needs one of (a set, or a test for names such as mkfs.*). */
export type ProgramFilter = ReadonlySet<string> | ((program: string) => boolean);

/** A rule ready to match: built in or from the config. */
export interface Rule {
  id: string;
  severity: Severity;
  description: string;
  builtin: boolean;
  /** A line that runs none of these programs cannot match: `matches` is not called (undefined: always called). */
  programs?: ProgramFilter;
  /**
   * Strings one of which every line this rule matches holds in its normalised words (required for
   * a rule that looks at commands without a set of program names; with one, a line must run one of
   * the programs and hold one of these). A rule with neither `programs` nor `mentions` looks at the
   * record alone: it gets no commands (line-filter.ts).
   */
  mentions?: readonly string[];
  matches(input: RuleInput, commands: SimpleCommand[]): boolean;
}

const hostMatcher = (patterns: string[] | undefined) => (patterns?.length ? hostPatterns(patterns) : undefined);

/** A config rule as a Rule; `groups` resolves host group names the way the console does. */
export function compileRule(r: RuleConfig): Rule {
  const programs = r.command === undefined ? undefined : new Set(Array.isArray(r.command) ? r.command : [r.command]);
  const args = r.args === undefined ? undefined : new RegExp(r.args, "u");
  const regex = r.regex === undefined ? undefined : new RegExp(r.regex, "u");
  const inHosts = hostMatcher(r.hosts);
  const exHosts = hostMatcher(r.except?.hosts);
  const exRegex = r.except?.regex === undefined ? undefined : new RegExp(r.except.regex, "u");
  const user = (i: RuleInput, list: string[] | undefined) => list?.some((u) => u === i.luser || u === i.suser) ?? false;
  return {
    id: r.id, severity: r.severity, description: r.description, builtin: false, programs,
    matches(i, cmds) {
      if (inHosts && !inHosts(i.hostname)) return false;
      if (r.users?.length && !user(i, r.users)) return false;
      if (exHosts?.(i.hostname) || user(i, r.except?.users)) return false;
      const text = i.command.slice(0, MATCH_CHARS);
      if (exRegex?.test(text)) return false;
      if (regex && !regex.test(text)) return false;
      if (programs && !cmds.some((c) => programs.has(c.program) && (args === undefined || args.test(c.args.join(" ").slice(0, MATCH_CHARS))))) return false;
      return true;
    },
  };
}

/** The built-ins not turned off, then the config's enabled rules. */
export function activeRules(config: { rules: RuleConfig[]; disabled_builtins: string[] }): Rule[] {
  const off = new Set(config.disabled_builtins);
  return [
    ...BUILTIN_RULES.filter((b) => !off.has(b.id)).map((b): Rule => ({ id: b.id, severity: b.severity, description: b.description, builtin: true, programs: b.programs, mentions: b.mentions, matches: b.test })),
    ...config.rules.filter((r) => r.enabled).map(compileRule),
  ];
}

function runsOne(programs: string[], want: ProgramFilter): boolean {
  for (const p of programs) if (typeof want === "function" ? want(p) : want.has(p)) return true;
  return false;
}

const NO_COMMANDS: SimpleCommand[] = [];

/** How a set of rules is matched, worked out once per set (RuleBook.current() keeps its set until the rules change). */
interface Plan {
  seesCommands: boolean[];
  mentions: (string[] | undefined)[];
  anySeesCommands: boolean;
  filter: LineFilter;
}
const plans = new WeakMap<readonly Rule[], Plan>();

function planOf(rules: readonly Rule[]): Plan {
  let plan = plans.get(rules);
  if (!plan) {
    const sees = rules.map(seesCommands);
    plan = { seesCommands: sees, mentions: rules.map(mentionsOf), anySeesCommands: sees.includes(true), filter: lineFilter(rules) };
    plans.set(rules, plan);
  }
  return plan;
}

/**
 * The rules a record matches, in their order. A command is normalised, its start only, when the line
 * filter finds a program or mention of a rule that looks at commands in it (most lines hold none);
 * such a rule is tried only when the line runs one of its programs and holds one of its mentions.
 */
export function matchRecord(rules: readonly Rule[], input: RuleInput): Rule[] {
  const plan = planOf(rules);
  let cmds = NO_COMMANDS;
  let programs: string[] | undefined;
  let seen: Seen;
  if (input.kind === "command" && plan.anySeesCommands) {
    const text = input.command.slice(0, MATCH_CHARS);
    seen = plan.filter(text);
    if (seen !== undefined) {
      cmds = normalize(text);
      programs = cmds.map((c) => c.program);
    }
  }
  const hits: Rule[] = [];
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (!plan.seesCommands[i]) {
      if (r.matches(input, NO_COMMANDS)) hits.push(r);
    } else if (programs !== undefined && programs.length > 0 && (r.programs === undefined || runsOne(programs, r.programs))
      && mentionsShow(plan.mentions[i], seen) && r.matches(input, cmds)) {
      hits.push(r);
    }
  }
  return hits;
}
