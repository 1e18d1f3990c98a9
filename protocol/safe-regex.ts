import { z } from "zod";

/**
 * A regex a person may give (alert rules, redaction rules): bounded in length, and refused when a
 * quantified group holds a quantifier (`(a+)+`, `(x*)*`) or when it has a backreference (`\1`,
 * `\k<name>`), the shapes that make JavaScript's backtracking take exponential time.
 */
export const safeRegex = z.string().min(1).max(512).superRefine((s, ctx) => {
  try {
    new RegExp(s, "u");
  } catch (e) {
    ctx.addIssue({ code: "custom", message: `not a regular expression: ${(e as Error).message.slice(0, 120)}` });
    return;
  }
  if (/\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{?]/.test(s) || /\\\d/.test(s) || /\\k</.test(s)) {
    ctx.addIssue({ code: "custom", message: "a quantified group that holds a quantifier, or a backreference, can take exponential time: write it without" });
  }
});
