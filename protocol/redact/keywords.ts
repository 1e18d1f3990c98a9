/**
 * The prefilter: a rule's regex runs only on a text that holds one of its keywords (ASCII, case
 * folded). One pass over the text looks each pair of characters up in a table of the keywords'
 * first two, and where one begins a keyword, the three characters in a table of their first three
 * (hashed); a keyword is compared only where that hits. A command without any keyword costs one
 * table lookup a character, whatever the number of rules.
 */

interface Keyword {
  word: string;
  rules: number[];
}

/** Character code → lower-case ASCII; anything else → 0, which no keyword holds. */
const FOLD = new Uint8Array(65536);
for (let c = 0x20; c < 0x7f; c++) FOLD[c] = c >= 65 && c <= 90 ? c | 32 : c;

const TABLE_BITS = 16;
const trigram = (a: number, b: number, c: number) => (a * 961 + b * 31 + c) & ((1 << TABLE_BITS) - 1);

export const MIN_KEYWORD = 3;

export interface KeywordIndex {
  /** Rules without keywords: they run on every text. */
  readonly always: readonly number[];
  /** Sets hit[rule] = 1 for every rule one of whose keywords text[from, to) holds; returns how many it set. */
  scanString(text: string, hit: Uint8Array, from: number, to: number): number;
  /** scanString over bytes (each byte one character). */
  scanBytes(bytes: Uint8Array, hit: Uint8Array): number;
  /** Where the first keyword of any rule in bytes[from, to) begins (each byte one character), or -1. */
  nextInBytes(bytes: Uint8Array, from: number, to: number): number;
}

/** The index of each rule's keywords (rules by position in `keywordsByRule`). */
export function keywordIndex(keywordsByRule: readonly (readonly string[])[]): KeywordIndex {
  const table = new Uint16Array(1 << TABLE_BITS);
  /** Folded characters are 7 bits: (first << 7 | second) → 1 when a keyword begins with them. */
  const pairs = new Uint8Array(1 << 14);
  const buckets: Keyword[][] = [];
  const always: number[] = [];
  const byWord = new Map<string, number[]>();
  keywordsByRule.forEach((words, rule) => {
    if (words.length === 0) always.push(rule);
    for (const w of words) {
      // No backslash: then a text without a keyword has none once its log escapes are undone (the
      // reporter skips such log lines unread; agent/src/tail/redact-body.ts).
      if (w.length < MIN_KEYWORD || w.includes("\\") || [...w].some((ch) => FOLD[ch.charCodeAt(0)] !== ch.charCodeAt(0))) {
        throw new Error(`keyword ${JSON.stringify(w)}: ${MIN_KEYWORD} or more printable ASCII characters but the backslash, lower case`);
      }
      byWord.set(w, [...(byWord.get(w) ?? []), rule]);
    }
  });
  for (const [word, rules] of byWord) {
    pairs[(word.charCodeAt(0) << 7) | word.charCodeAt(1)] = 1;
    const slot = trigram(word.charCodeAt(0), word.charCodeAt(1), word.charCodeAt(2));
    if (table[slot] === 0) table[slot] = buckets.push([]);
    buckets[table[slot]! - 1]!.push({ word, rules });
  }

  // Separate string and byte versions, and no closures over the text: a captured variable makes the
  // engine's per-character loop several times slower.
  function markString(text: string, start: number, to: number, slot: number, hit: Uint8Array): number {
    let found = 0;
    for (const k of buckets[slot - 1]!) {
      const w = k.word;
      if (start + w.length > to) continue;
      let j = 0;
      while (j < w.length && FOLD[text.charCodeAt(start + j)] === w.charCodeAt(j)) j++;
      if (j === w.length) for (const r of k.rules) if (hit[r] === 0) { hit[r] = 1; found++; }
    }
    return found;
  }

  /** Whether keyword `w` (folded) begins at bytes[start] and ends by `to`. */
  function wordAtBytes(bytes: Uint8Array, start: number, to: number, w: string): boolean {
    if (start + w.length > to) return false;
    let j = 0;
    while (j < w.length && FOLD[bytes[start + j]!] === w.charCodeAt(j)) j++;
    return j === w.length;
  }

  function markBytes(bytes: Uint8Array, start: number, slot: number, hit: Uint8Array): number {
    let found = 0;
    for (const k of buckets[slot - 1]!) {
      if (wordAtBytes(bytes, start, bytes.length, k.word)) for (const r of k.rules) if (hit[r] === 0) { hit[r] = 1; found++; }
    }
    return found;
  }

  // No default parameters: with them, JavaScriptCore runs this loop about three times slower.
  function scanString(text: string, hit: Uint8Array, from: number, to: number): number {
    let found = 0;
    let a = 0;
    let b = 0;
    for (let i = from; i < to; i++) {
      const c = FOLD[text.charCodeAt(i)]!;
      if (pairs[(a << 7) | b] === 1 && i - from >= 2) {
        const slot = table[trigram(a, b, c)]!;
        if (slot !== 0) found += markString(text, i - 2, to, slot, hit);
      }
      a = b;
      b = c;
    }
    return found;
  }

  function scanBytes(bytes: Uint8Array, hit: Uint8Array): number {
    let found = 0;
    let a = 0;
    let b = 0;
    for (let i = 0; i < bytes.length; i++) {
      const c = FOLD[bytes[i]!]!;
      if (pairs[(a << 7) | b] === 1 && i >= 2) {
        const slot = table[trigram(a, b, c)]!;
        if (slot !== 0) found += markBytes(bytes, i - 2, slot, hit);
      }
      a = b;
      b = c;
    }
    return found;
  }

  function nextInBytes(bytes: Uint8Array, from: number, to: number): number {
    let a = 0;
    let b = 0;
    for (let i = from; i < to; i++) {
      const c = FOLD[bytes[i]!]!;
      if (pairs[(a << 7) | b] === 1 && i - from >= 2) {
        const slot = table[trigram(a, b, c)]!;
        if (slot !== 0 && holdsAt(bytes, i - 2, to, slot)) return i - 2;
      }
      a = b;
      b = c;
    }
    return -1;
  }

  function holdsAt(bytes: Uint8Array, start: number, to: number, slot: number): boolean {
    for (const k of buckets[slot - 1]!) if (wordAtBytes(bytes, start, to, k.word)) return true;
    return false;
  }

  return { always, scanString, scanBytes, nextInBytes };
}
