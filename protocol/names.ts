/**
 * Flags of a record's names (hostname, suser, luser, terminal) and working directory.
 *
 * A record is audit evidence: a name the systems would not give (a bidi override, a Cyrillic
 * look-alike, a host name no resolver takes) is never a reason to drop the record, since sssd,
 * Samba and odd images do produce unusual names. Such a record is stored exactly and flagged:
 *
 * - `hostname-nonstandard`: the hostname is not an RFC 1123 host name: dot-separated labels of
 *   1-63 ASCII letters, digits and hyphens, no label starting or ending with a hyphen, at most
 *   253 characters. A trailing dot (the DNS root) is not allowed: hostname(1) never prints one,
 *   so "web01." can only be a second spelling of "web01".
 * - `user-nonstandard`: suser or luser is not a POSIX portable user name (A-Z a-z 0-9 . _ -, not
 *   starting with -). Accepted unflagged as well: `name@domain` with an RFC 1123 domain (sssd and
 *   realm fully-qualified names) and `name$` (Samba machine accounts). An empty user is not
 *   flagged: 2018 records often lack suser, and `who am i` gives no luser without a terminal.
 * - `terminal-nonstandard`: the terminal is not made of A-Z a-z 0-9 / : . _ - (pts/3, tty1,
 *   ttyS0, :0, console). Empty is not flagged (no terminal).
 * - `name-invisible`: a name holds a character that is not shown: bidi controls (U+202E…),
 *   zero-width and other default-ignorable characters (U+200B, U+2060, U+00AD, U+180E…), or
 *   the blank U+2800. Always in addition to the name's -nonstandard flag.
 * - `name-confusable`: a name imitates an ASCII name: it holds visible non-ASCII characters, and
 *   its NFKC form with the look-alikes below mapped (Cyrillic and Greek letters, dashes) is all
 *   ASCII: `rоot` (Cyrillic о), `ｒｏｏｔ` (full-width), `rt‐srv` (U+2010).
 * - `cwd-control`: the working directory holds a C0 or C1 control character, DEL, or an invisible
 *   character as above. A directory may be named so; the record keeps it exactly.
 *
 * Why two names that render alike can never both be unflagged: every name that passes the three
 * -nonstandard checks is ASCII from a fixed set of letters, digits and `. _ - @ $ / :`, which has
 * no control, space or invisible character (controls and spaces are refused in names before this).
 * Such a name is shown character for character, each character as itself, so two different
 * unflagged names differ in a visible character. A name that renders like one of them but is
 * another string must hold a non-ASCII or hidden character, and is flagged -nonstandard (and
 * -invisible or -confusable when we can say why). What stays is the font's business: ASCII
 * letters a font draws alike (l, I, 1; O, 0) are different names that a query names exactly.
 */

/** Every flag, in the order a record lists them. */
export const RECORD_FLAGS = [
  "hostname-nonstandard",
  "user-nonstandard",
  "terminal-nonstandard",
  "name-invisible",
  "name-confusable",
  "cwd-control",
  // Not name flags: conflict is set by the store when two records came with one key and other content
  // (server/src/db/conflicts.ts); forged by normalizeRecord when a kernel-attested record's users are
  // not the ones the kernel named.
  "conflict",
  "forged",
] as const;
export type RecordFlag = (typeof RECORD_FLAGS)[number];

/** The fields the flags look at. */
export interface FlaggedFields {
  hostname: string;
  suser: string;
  luser: string;
  terminal: string;
  cwd: string | null;
}

const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const PORTABLE_USER = /^[A-Za-z0-9._][A-Za-z0-9._-]*$/;
const TERMINAL = /^[A-Za-z0-9/:._-]*$/;
/** Characters not shown: default-ignorable (zero-width, soft hyphen, fillers, tags, variation selectors), bidi controls, the braille blank. */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}\u2800]/u;
const INVISIBLE_ALL = new RegExp(INVISIBLE.source, "gu");
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const NON_ASCII = /[^\u0000-\u007f]/;

/**
 * Non-ASCII letters drawn like ASCII ones that NFKC keeps apart: the common Cyrillic and Greek
 * look-alikes, the dotless i, and the dashes and minus that pass for a hyphen.
 */
const LOOKALIKES: Record<string, string> = Object.fromEntries([
  ..."аa еe оo рp сc уy хx ѕs іi јj ԁd һh ԛq ԝw ӏl ıi ɑa".match(/\S\S/g)!,
  ..."АA ВB ЕE КK МM НH ОO РP СC ТT ХX ЅS ІI ЈJ ҮY ԚQ ԜW".match(/\S\S/g)!,
  ..."οo νv ρp ιi κk χx υu αa ΑA ΒB ΕE ΖZ ΗH ΙI ΚK ΜM ΝN ΟO ΡP ΤT ΥY ΧX".match(/\S\S/g)!,
  ..."\u2010-\u2011-\u2012-\u2013-\u2014-\u2015-\u2212-\u2043-".match(/\S\S/g)!,
].map((pair) => [pair[0]!, pair[1]!]));

/** RFC 1123 host name (no trailing dot), at most 253 characters. */
export function isStandardHostname(s: string): boolean {
  return s.length <= 253 && HOST_NAME.test(s);
}

/** A POSIX portable user name, `name@domain` (sssd) or `name$` (Samba machine account); empty counts as standard. */
export function isStandardUser(s: string): boolean {
  if (s === "") return true;
  const at = s.indexOf("@");
  if (at >= 0) return PORTABLE_USER.test(s.slice(0, at)) && isStandardHostname(s.slice(at + 1));
  return PORTABLE_USER.test(s.endsWith("$") ? s.slice(0, -1) : s);
}

export function isStandardTerminal(s: string): boolean {
  return TERMINAL.test(s);
}

export function hasInvisible(s: string): boolean {
  return INVISIBLE.test(s);
}

/** A name of visible non-ASCII characters that reads as an ASCII name (after NFKC and the look-alike map). */
export function imitatesAscii(s: string): boolean {
  const shown = s.replace(INVISIBLE_ALL, "");
  if (!NON_ASCII.test(shown)) return false;
  let skeleton = "";
  for (const ch of shown.normalize("NFKC")) skeleton += LOOKALIKES[ch] ?? ch;
  return !NON_ASCII.test(skeleton);
}

/** The record's flags, in RECORD_FLAGS order, each once; [] for a record whose names are all standard. */
export function recordFlags(r: FlaggedFields): RecordFlag[] {
  const names = [r.hostname, r.suser, r.luser, r.terminal];
  const on: Record<RecordFlag, boolean> = {
    "hostname-nonstandard": !isStandardHostname(r.hostname),
    "user-nonstandard": !isStandardUser(r.suser) || !isStandardUser(r.luser),
    "terminal-nonstandard": !isStandardTerminal(r.terminal),
    "name-invisible": names.some(hasInvisible),
    "name-confusable": names.some(imitatesAscii),
    "cwd-control": r.cwd !== null && (CONTROL.test(r.cwd) || INVISIBLE.test(r.cwd)),
    conflict: false,
    forged: false,
  };
  return RECORD_FLAGS.filter((f) => on[f]);
}
