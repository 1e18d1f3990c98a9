/**
 * The built-in redaction rules. Informed by what gitleaks' default config and Atuin's secrets filter
 * cover, written for shell command lines: a token's own format where it has one, else the place a
 * secret is typed (an option, an assignment, a URL, a header, a pipe into passwd).
 *
 * Order matters only on a tie (two rules replacing the same span): the earlier rule names the
 * marker, so the token formats come first (`GITHUB_TOKEN=ghp_…` is marked github-token, not env-secret).
 */
import { PLACE_RULES } from "./rules/places.ts";
import { PROGRAM_RULES } from "./rules/programs.ts";
import { TOKEN_FORMAT_RULES } from "./rules/tokens.ts";

export interface RedactRule {
  /** Lower-case a-z 0-9 . - ; named in the marker. */
  id: string;
  description: string;
  /** Lower-case ASCII; the regex runs only on a text that holds one (case folded). None: it always runs. */
  keywords: readonly string[];
  /** Only the named group `secret` is replaced. Compiled again with the flags g and d added. */
  pattern: RegExp;
  /** The secret's Shannon entropy (bits per character) must reach this; drops dummies such as ghp_xxxx…. */
  minEntropy?: number;
  /** Default true: a secret that is a placeholder ($VAR, <pass>, changeme, ${{ … }}, …) is left as typed. */
  allowPlaceholders?: boolean;
}

export const BUILTIN_RULES: readonly RedactRule[] = [...TOKEN_FORMAT_RULES, ...PROGRAM_RULES, ...PLACE_RULES];
