/**
 * Values that stand for a secret without being one: variables, templates, prompts, dummies, and the
 * switches a name like PasswordAuthentication takes (yes, no, true, 0…).
 * They are left as typed, so `mysql -p"$DB_PASS"` and `PASSWORD=changeme ./run` stay readable.
 */

const VARIABLES = String.raw`(?:\$[A-Za-z_][A-Za-z0-9_]*|\$[0-9@*#?$!-]|\$\{[^{}]*\}){1,16}`;
/** A template may hold blanks that cut the value short: `${{ secrets.X }}` is seen as `${{`. */
const TEMPLATES = String.raw`\$?\{\{.*|\$\(.*\)|\x60.*\x60|<[^<>]*>|\$`;
const FORMATS = String.raw`(?:%[-+# 0-9.]{0,8}[a-zA-Z]|\\n){1,16}`;
const FILLERS = String.raw`[xX*.#_•…-]{3,}|…|\[REDACTED:[^\]]*\]`;
const WORDS = String.raw`(?:your|my)?[_-]?(?:password|passwd|pass|secret|token|api[_-]?key)|change[_-]?me|redacted|placeholder|none|null|true|false|yes|no|on|off|[01]`;

/** Repeated groups are bounded: a long run of them is no placeholder, and would cost the regex engine dearly. */
const PLACEHOLDER = new RegExp(`^(?:${VARIABLES}|${TEMPLATES}|${FORMATS}|${FILLERS}|${WORDS})?$`, "is");

export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value);
}

const byteCounts = new Uint32Array(256);

/** Shannon entropy in bits per character. */
export function entropy(value: string): number {
  const n = value.length;
  if (n === 0) return 0;
  let wide: Map<number, number> | undefined;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 256) byteCounts[c]!++;
    else (wide ??= new Map()).set(c, (wide.get(c) ?? 0) + 1);
  }
  let bits = 0;
  const add = (count: number) => {
    const p = count / n;
    bits -= p * Math.log2(p);
  };
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    // Each character's count is taken once, then cleared for the next call.
    if (c < 256 && byteCounts[c] !== 0) { add(byteCounts[c]!); byteCounts[c] = 0; }
  }
  if (wide) for (const count of wide.values()) add(count);
  return bits;
}
