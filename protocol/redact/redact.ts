/**
 * The redaction engine: finds secrets with the rules, replaces each secret's value (only it) with
 * `[REDACTED:<rule>:<fp>]`, and says where each marker is, in UTF-8 bytes of the output.
 *
 * Overlaps: every rule's matches are collected, then taken from the left; of two that overlap the
 * one starting earlier wins, on the same start the longer, on the same span the earlier rule in
 * BUILTIN_RULES order (config rules come after the built-ins).
 *
 * Idempotence: a marker already in the text is never part of a secret, and a pass that replaced
 * something is followed by another until one replaces nothing (each replaces text outside markers,
 * so this ends), so redact(redact(x)) equals redact(x) even when a replacement lets a rule see a
 * match it could not before.
 */
import { type ParsedRedactorOptions, redactorOptionsSchema, ruleFromConfig, type RedactorOptions } from "./config.ts";
import { keywordIndex } from "./keywords.ts";
import { fingerprint, marker, MARKER_START } from "./marker.ts";
import { entropy, isPlaceholder } from "./placeholders.ts";
import { BUILTIN_RULES, type RedactRule } from "./rules.ts";
import { disjoint, isHigh, isLow, markerSpans, overlapsMarker, type Span, utf8Length } from "./spans.ts";

/** One replaced secret: its rule and the marker's place in the output, as UTF-8 byte offsets [start, end). */
export interface Redaction {
  rule: string;
  start: number;
  end: number;
}

export interface Redactor {
  /** The active rules, built-ins first. */
  readonly rules: readonly RedactRule[];
  redact(text: string): { text: string; redactions: Redaction[] };
  /**
   * For commands that may not be valid UTF-8. Valid UTF-8 gets exactly what redact() gives; other
   * bytes are matched one character per byte, and every byte outside a secret is copied as is.
   * Without a secret, the input array itself is returned.
   */
  redactBytes(bytes: Uint8Array): { bytes: Uint8Array; redactions: Redaction[] };
  /**
   * Where in bytes[from, to) the first text begins that some rule could match, escapes undone or not
   * (protocol/escape.ts; keywords hold no backslash): its first keyword, `from` when a rule has none,
   * -1 when there is none. redact() and redactBytes() give no redaction of any text within a range
   * that holds none.
   */
  nextMaybeSecret(bytes: Uint8Array, from: number, to: number): number;
}

interface CompiledRule {
  id: string;
  regex: RegExp;
  minEntropy: number;
  allowPlaceholders: boolean;
}

/** A marker placed: [start, end) in code units of the output (bytes in byte mode). */
interface Placed {
  rule: string;
  start: number;
  end: number;
}

/** Passes after the first, at most (each replaces text outside markers, so they end; a second finds nothing in practice). */
const MAX_EXTRA_PASSES = 4;
const FINGERPRINT_CACHE = 4096;
/**
 * Commands known to hold no secret, at most this many, each at most CLEAN_MAX_CHARS long (≤ 2 MiB
 * in all): fleets type the same commands again and again, and a look-up costs less than a scan.
 */
const CLEAN_CACHE = 4096;
const CLEAN_MAX_CHARS = 512;

function compile(rule: RedactRule): CompiledRule {
  const flags = [...new Set(rule.pattern.flags.replace("y", "") + "gd")].join("");
  return { id: rule.id, regex: new RegExp(rule.pattern.source, flags), minEntropy: rule.minEntropy ?? 0, allowPlaceholders: rule.allowPlaceholders ?? true };
}

/** The rules a redactor runs; throws on an unknown built-in to disable or an id used twice. */
function activeRules(options: ParsedRedactorOptions): RedactRule[] {
  const builtinIds = new Set(BUILTIN_RULES.map((r) => r.id));
  const unknown = options.disabled.filter((id) => !builtinIds.has(id));
  if (unknown.length) throw new Error(`redaction: no built-in rule ${unknown.join(", ")}`);
  const off = new Set(options.disabled);
  const rules = [...BUILTIN_RULES.filter((r) => !off.has(r.id)), ...options.rules.map(ruleFromConfig)];
  const seen = new Set<string>();
  for (const r of [...BUILTIN_RULES, ...options.rules]) {
    if (seen.has(r.id)) throw new Error(`redaction: rule id ${r.id} is used twice`);
    seen.add(r.id);
  }
  return rules;
}

export function createRedactor(input: RedactorOptions): Redactor {
  const options = redactorOptionsSchema.parse(input);
  // HMAC takes a key in bytes faster than one in a string (same bytes, same fingerprints).
  const key = Buffer.from(options.key, "utf8");
  const rules = activeRules(options);
  const compiled = rules.map(compile);
  const exceptions = options.exceptions.map((e) => new RegExp(e, "u"));
  const keywords = keywordIndex(rules.map((r) => r.keywords));
  const hit = new Uint8Array(rules.length);
  for (const r of keywords.always) hit[r] = 1;
  // A plain loop: for a few dozen bytes, fill() costs more than the scan of a short command.
  // Only a scan that found a keyword leaves marks to clear: most commands hold none, and skip the loop.
  let marked = false;
  const resetHits = () => {
    if (!marked) return;
    for (let r = 0; r < hit.length; r++) hit[r] = 0;
    for (const r of keywords.always) hit[r] = 1;
    marked = false;
  };
  const scanned = (found: number) => {
    if (found > 0) marked = true;
    return found;
  };
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const encoder = new TextEncoder();
  const cache = { text: new Map<string, string>(), bytes: new Map<string, string>() };

  /** The fingerprint of a secret: the text's UTF-8, or (byte mode) the bytes its characters are. */
  function fingerprintOf(value: string, byteMode: boolean): string {
    const memo = byteMode ? cache.bytes : cache.text;
    let fp = memo.get(value);
    if (fp === undefined) {
      fp = fingerprint(key, byteMode ? Buffer.from(value, "latin1") : value);
      if (memo.size >= FINGERPRINT_CACHE) memo.clear();
      memo.set(value, fp);
    }
    return fp;
  }

  function collect(rule: number, text: string, byteMode: boolean, markers: [number, number][], into: Span[]): void {
    const c = compiled[rule]!;
    const re = c.regex;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m[0].length === 0) re.lastIndex++;
      const at = m.indices?.groups?.secret;
      if (at === undefined || at[0] === at[1]) continue;
      let [start, end] = at;
      if (!byteMode) {
        // A user regex may cut a character in two: the whole character goes.
        if (isLow(text.charCodeAt(start)) && isHigh(text.charCodeAt(start - 1))) start--;
        if (isHigh(text.charCodeAt(end - 1)) && isLow(text.charCodeAt(end))) end++;
      }
      const value = text.slice(start, end);
      if (c.allowPlaceholders && isPlaceholder(value)) continue;
      if (c.minEntropy > 0 && entropy(value) < c.minEntropy) continue;
      if (exceptions.length > 0 && exceptions.some((e) => e.test(value))) continue;
      if (overlapsMarker(markers, start, end)) continue;
      into.push({ start, end, rule });
    }
  }

  /**
   * The secrets in `text`, sorted and disjoint; none when no rule's keyword is in it. Keywords are
   * looked for outside markers only: the rule ids in markers (mysql-password) must not wake rules.
   * A later pass over a pass's output keeps that pass's rules (`rescan` false): the text outside
   * markers is text the pass had, so it holds no keyword the pass did not see.
   */
  function find(text: string, byteMode: boolean, rescan: boolean): Span[] {
    if (rescan) {
      resetHits();
      // Most commands hold no keyword at all: one scan of the whole text says so.
      if (scanned(keywords.scanString(text, hit, 0, text.length)) === 0 && keywords.always.length === 0) return [];
    }
    const markers = markerSpans(text);
    if (rescan && markers.length > 0) {
      resetHits();
      let found = 0;
      let from = 0;
      for (const [start, end] of markers) {
        found += scanned(keywords.scanString(text, hit, from, start));
        from = end;
      }
      found += scanned(keywords.scanString(text, hit, from, text.length));
      if (found === 0 && keywords.always.length === 0) return [];
    }
    const spans: Span[] = [];
    for (let r = 0; r < compiled.length; r++) if (hit[r] === 1) collect(r, text, byteMode, markers, spans);
    return disjoint(spans);
  }

  /** One pass: the text with its secrets replaced, and the markers' [start, end) in it (code units). */
  function replace(text: string, spans: Span[], byteMode: boolean): { text: string; markers: Placed[] } {
    const parts: string[] = [];
    const markers: Placed[] = [];
    let from = 0;
    let length = 0;
    for (const s of spans) {
      const id = compiled[s.rule]!.id;
      const m = marker(id, fingerprintOf(text.slice(s.start, s.end), byteMode));
      parts.push(text.slice(from, s.start), m);
      length += s.start - from;
      markers.push({ rule: id, start: length, end: length + m.length });
      length += m.length;
      from = s.end;
    }
    parts.push(text.slice(from));
    return { text: parts.join(""), markers };
  }

  /**
   * Passes until one finds nothing; the markers this call added, in code units of the result.
   * `scanned`: `hit` holds the keywords of the whole text (redactBytes scanned its bytes), which are
   * those outside markers when it holds none.
   */
  function redactAll(text: string, byteMode: boolean, scanned: boolean): { text: string; markers: Placed[] } {
    let spans = find(text, byteMode, !scanned || text.includes(MARKER_START));
    if (spans.length === 0) return { text, markers: [] };
    let done = replace(text, spans, byteMode);
    for (let pass = 0; pass < MAX_EXTRA_PASSES; pass++) {
      spans = find(done.text, byteMode, false);
      if (spans.length === 0) break;
      const next = replace(done.text, spans, byteMode);
      // Earlier markers move by what the new replacements before them added (both lists are sorted).
      let shift = 0;
      let i = 0;
      const moved = done.markers.map((mk) => {
        for (; i < spans.length && spans[i]!.end <= mk.start; i++) shift += next.markers[i]!.end - next.markers[i]!.start - (spans[i]!.end - spans[i]!.start);
        return { ...mk, start: mk.start + shift, end: mk.end + shift };
      });
      done = { text: next.text, markers: [...moved, ...next.markers].sort((a, b) => a.start - b.start) };
    }
    return done;
  }

  const clean = new Set<string>();

  function redactText(text: string, scanned: boolean): { text: string; redactions: Redaction[] } {
    if (clean.has(text)) return { text, redactions: [] };
    const done = redactAll(text, false, scanned);
    if (done.markers.length === 0) {
      if (text.length <= CLEAN_MAX_CHARS) {
        if (clean.size >= CLEAN_CACHE) clean.clear();
        clean.add(text);
      }
      return { text, redactions: [] };
    }
    const redactions: Redaction[] = [];
    let unit = 0;
    let byte = 0;
    for (const mk of done.markers) {
      byte += utf8Length(done.text, unit, mk.start);
      const start = byte;
      byte += mk.end - mk.start;
      unit = mk.end;
      redactions.push({ rule: mk.rule, start, end: byte });
    }
    return { text: done.text, redactions };
  }

  function redactBytes(bytes: Uint8Array): { bytes: Uint8Array; redactions: Redaction[] } {
    resetHits();
    if (scanned(keywords.scanBytes(bytes, hit)) === 0 && keywords.always.length === 0) return { bytes, redactions: [] };
    let text: string | undefined;
    try {
      text = decoder.decode(bytes);
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      const r = redactText(text, true);
      return r.redactions.length === 0 ? { bytes, redactions: [] } : { bytes: encoder.encode(r.text), redactions: r.redactions };
    }
    // Not UTF-8: one character per byte, so offsets are byte offsets and the bytes between secrets are copied.
    const done = redactAll(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1"), true, true);
    if (done.markers.length === 0) return { bytes, redactions: [] };
    return { bytes: new Uint8Array(Buffer.from(done.text, "latin1")), redactions: done.markers };
  }

  const redact = (text: string) => redactText(text, false);
  const nextMaybeSecret = (bytes: Uint8Array, from: number, to: number) => (keywords.always.length > 0 ? (from < to ? from : -1) : keywords.nextInBytes(bytes, from, to));

  return { rules, redact, redactBytes, nextMaybeSecret };
}
