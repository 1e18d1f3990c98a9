/** Places in a text: the secrets found, the markers already there, and UTF-8 lengths for byte offsets. */
import { MARKER_PATTERN, MARKER_START } from "./marker.ts";

/** A secret found: [start, end) in the text being matched (UTF-16 code units, or bytes). */
export interface Span {
  start: number;
  end: number;
  rule: number;
}

/** UTF-8 length of text[from, to): what TextEncoder writes (a lone surrogate becomes U+FFFD, 3 bytes). */
export function utf8Length(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < to && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

export const isHigh = (c: number) => (c & 0xfc00) === 0xd800;
export const isLow = (c: number) => (c & 0xfc00) === 0xdc00;

/** Of overlapping spans, the earliest, then the longest, then the earliest rule; sorted, disjoint. */
export function disjoint(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start || b.end - b.start - (a.end - a.start) || a.rule - b.rule);
  const kept: Span[] = [];
  let end = 0;
  for (const s of spans) if (s.start >= end) { kept.push(s); end = s.end; }
  return kept;
}

/** Whether [start, end) overlaps one of the sorted, disjoint marker spans (binary search). */
export function overlapsMarker(markers: [number, number][], start: number, end: number): boolean {
  let lo = 0;
  let hi = markers.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (markers[mid]![1] <= start) lo = mid + 1;
    else hi = mid;
  }
  return lo < markers.length && markers[lo]![0] < end;
}

const markerSearch = new RegExp(MARKER_PATTERN.source, "g");

/** The markers already in a text, sorted. */
export function markerSpans(text: string): [number, number][] {
  if (!text.includes(MARKER_START)) return [];
  const spans: [number, number][] = [];
  markerSearch.lastIndex = 0;
  for (let m = markerSearch.exec(text); m !== null; m = markerSearch.exec(text)) spans.push([m.index, m.index + m[0].length]);
  return spans;
}
