/**
 * Redactions a record comes with: a reporter that redacted before sending says where its markers
 * are. The receiver checks each against the command (a marker of that rule, at that place) and,
 * when its own redactor replaces more, carries them to where their markers moved. A marker-like
 * text someone typed is not a redaction: only declared or placed markers are listed.
 */
import { MARKER_PATTERN } from "./marker.ts";
import type { Redaction } from "./redact.ts";

/** At most this many redactions per record (a marker takes at least 27 bytes of the command). */
export const MAX_REDACTIONS = 4096;

const search = new RegExp(MARKER_PATTERN.source, "g");

/** The marker-shaped runs of a command's bytes, in order, with the rule each names. */
export function markersIn(bytes: Uint8Array): Redaction[] {
  // Markers are ASCII: in a latin1 view of the bytes, code units are byte offsets.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  const out: Redaction[] = [];
  search.lastIndex = 0;
  for (let m = search.exec(text); m !== null; m = search.exec(text)) {
    out.push({ rule: m[0].slice("[REDACTED:".length, m[0].lastIndexOf(":")), start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** Why declared redactions do not describe the command's bytes, or undefined when each is one of its markers. */
export function checkDeclared(declared: readonly Redaction[], bytes: Uint8Array): string | undefined {
  const found = new Map(markersIn(bytes).map((m) => [m.start, m]));
  let end = 0;
  for (const [i, d] of declared.entries()) {
    if (d.start < end) return `redactions[${i}] is not after the one before it`;
    const m = found.get(d.start);
    if (!m || m.end !== d.end || m.rule !== d.rule) return `redactions[${i}] (${d.rule} at bytes ${d.start}-${d.end}) is not a marker of that rule in the command`;
    end = d.end;
  }
  return undefined;
}

/**
 * After a redactor replaced more (`placed`, in `after`'s bytes): its redactions and the declared
 * ones at their markers' new places, sorted. Markers are never part of a secret, so those of
 * `before` are those of `after` that the redactor did not place, in the same order.
 */
export function carryDeclared(declared: readonly Redaction[], before: Uint8Array, after: Uint8Array, placed: readonly Redaction[]): Redaction[] {
  if (declared.length === 0) return [...placed];
  const had = markersIn(before);
  const own = new Set(placed.map((p) => p.start));
  const kept = markersIn(after).filter((m) => !own.has(m.start));
  if (kept.length !== had.length) throw new Error("redaction changed a marker that was already in the command");
  const wanted = new Set(declared.map((d) => d.start));
  const moved = had.flatMap((m, i) => (wanted.has(m.start) ? [{ rule: m.rule, start: kept[i]!.start, end: kept[i]!.end }] : []));
  return [...moved, ...placed].sort((a, b) => a.start - b.start);
}
