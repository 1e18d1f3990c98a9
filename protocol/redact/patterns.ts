/**
 * Regex source shared by the built-in rules. Whitespace is spelled out instead of `\s`, which also
 * matches U+00A0: in redactBytes' one-character-per-byte view that is a UTF-8 continuation byte,
 * and a match must not end inside a character.
 */

/** Where a program name starts: not inside a word, a file name or an option (`/usr/bin/mysql` is fine). */
export const PROGRAM = String.raw`(?<![\w.-])`;

/**
 * Any arguments between a program and the option that matters, within one simple command (no
 * newline, `;`, `&` or `|`). Bounded, so a long text with many program names stays linear.
 */
export const ARGS = String.raw`(?:[^\n&|;]{0,512}?[ \t])?`;

/**
 * One shell word as a value, its quotes left out of `secret`: "…", '…', $(…), `…` or bare
 * characters up to whitespace, a quote or a shell operator. A quote followed by a blank is taken
 * for a closing one (`grep 'password=' file`), so it starts no value.
 *
 * Runs of one character class only, unbounded: each search stops at the next quote, and every
 * place a search starts holds one, so a text is read a bounded number of times. Escaped quotes
 * ("a\"b") are a repeated group, which JavaScriptCore's backtracking abandons (slowly, and as no
 * match) when repeated a million times: up to 64 are followed, past that the value ends at the
 * first quote.
 */
export function shellValue({ stopAtComma }: { stopAtComma: boolean }): string {
  const bare = String.raw`[^ \t\n\r\f\v"'\x60;&|<>()${stopAtComma ? "," : ""}]`;
  const doubleQuoted = String.raw`"(?![ \t\n\r])(?:(?<secret>[^"\\]*(?:\\[^][^"\\]*){0,64})"|(?<secret>[^"]*)")`;
  return String.raw`(?:${doubleQuoted}|'(?![ \t\n\r])(?<secret>[^']*)'|(?<secret>\$\([^()\n]*\)|\x60[^\x60\n]*\x60|${bare}+))`;
}

/** A value that may hold commas (a password after an option). */
export const VALUE = shellValue({ stopAtComma: false });
/** A value in `name=value` lists, which commas separate (`mount -o user=x,password=y,uid=0`). */
export const LIST_VALUE = shellValue({ stopAtComma: true });

/** Join regex source fragments (no separator). */
export const re = (...parts: string[]) => parts.join("");

/** Names (of variables, properties, options) that hold a secret. `pass` and `pwd` only as a word: not bypass, passenger, OLDPWD. */
export const SECRET_NAME = String.raw`(?:password|passwd|passphrase|secret|token|credentials?|api[_.-]?key|(?:access|private|encryption|master|signing)[_.-]?key|sshpass|(?<![a-z0-9])pass(?![a-z])|[_.-]pwd(?![a-z]))`;
/**
 * A lookbehind refusing names that say where a secret is or what it is like rather than hold it:
 * PASSWORD_FILE, passwordFile, TOKEN_TTL, secretName, existingSecret (short words only after a
 * separator: …_ID but not …PAID). `before` is what stands between the name and the lookbehind.
 */
export const notSecretName = (before: string) => String.raw`(?<!(?:[_.-](?:id|len|dir|uri|url|arn|ttl|cmd|ref)|(?:file|path|host|port|user|username|name|ttl|expiry|expires|expiration|timeout|length|type|mode|enabled|policy|prompt|header|field|version|count|limit|region|hash|endpoint|scope|method|command|helper|store|format)|existing[_.-]?secret|application_credentials)${before})`;

/** Authorization schemes that come before the credential. */
export const AUTH_SCHEME = String.raw`(?:bearer|basic|token|bot|apikey|api-key|key|ssws|sso-key|otoken)`;
