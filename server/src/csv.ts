/**
 * CSV cells. Command text, cwd and names are written by whoever typed them, and a CSV export is
 * opened in spreadsheets: by default a cell is made safe to open there (`safe`), and `raw` keeps
 * every byte for tools that need them exactly (NDJSON is always exact).
 */
import type { CSV_MODES } from "../../protocol/http.ts";

export type CsvMode = (typeof CSV_MODES)[number];

/** What spreadsheets read as the start of a formula (OWASP CSV injection), ASCII and full-width. */
const FORMULA_START = /^[\s\u0000-\u001f\u007f\u0080-\u009f]*[=+\-@\uff1d\uff0b\uff0d\uff20]|^[\t\r]/u;
/**
 * Characters that act on a terminal or reorder what is shown instead of being shown: C0 controls
 * but TAB and LF (a multi-line command stays readable in its quoted cell), DEL, C1 controls,
 * and the bidi and zero-width formatting characters.
 */
const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/gu;

/** C0 and DEL as their Unicode control pictures (ESC → ␛), everything else as a visible <U+XXXX>. */
function visible(ch: string): string {
  const c = ch.codePointAt(0)!;
  if (c < 0x20) return String.fromCodePoint(0x2400 + c);
  if (c === 0x7f) return "\u2421";
  return `<U+${c.toString(16).toUpperCase().padStart(4, "0")}>`;
}

/** A cell a spreadsheet shows as text: formula starts get the OWASP `'` prefix, hidden characters are shown. */
export function spreadsheetSafe(s: string): string {
  const shown = s.replace(HIDDEN, visible);
  return FORMULA_START.test(s) ? `'${shown}` : shown;
}

export function csvField(v: unknown, mode: CsvMode): string {
  if (v === null || v === undefined) return "";
  const s = mode === "safe" && typeof v === "string" ? spreadsheetSafe(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
