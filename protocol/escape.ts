/**
 * Field escaping of the log format: backslash, TAB, LF and CR become two-byte
 * escapes, every other byte is written as is. A field therefore never holds a
 * raw TAB or newline, so no text can move into another field or line.
 */

const BS = 0x5c, TAB = 0x09, LF = 0x0a, CR = 0x0d;

export function escapeBytes(src: Uint8Array): Uint8Array {
  let extra = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === BS || c === TAB || c === LF || c === CR) extra++;
  }
  if (extra === 0) return src;
  const out = new Uint8Array(src.length + extra);
  let j = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === BS) { out[j++] = BS; out[j++] = BS; }
    else if (c === TAB) { out[j++] = BS; out[j++] = 0x74; }
    else if (c === LF) { out[j++] = BS; out[j++] = 0x6e; }
    else if (c === CR) { out[j++] = BS; out[j++] = 0x72; }
    else out[j++] = c;
  }
  return out;
}

/** Inverse of escapeBytes; a string error for an unknown escape or a dangling backslash. */
export function unescapeBytes(src: Uint8Array): Uint8Array | string {
  const first = src.indexOf(BS);
  if (first < 0) return src;
  const out = new Uint8Array(src.length);
  out.set(src.subarray(0, first));
  let j = first;
  for (let i = first; i < src.length; i++) {
    const c = src[i]!;
    if (c !== BS) { out[j++] = c; continue; }
    const n = src[++i];
    if (n === BS) out[j++] = BS;
    else if (n === 0x74) out[j++] = TAB;
    else if (n === 0x6e) out[j++] = LF;
    else if (n === 0x72) out[j++] = CR;
    else return n === undefined ? "dangling backslash" : `unknown escape \\${String.fromCharCode(n)}`;
  }
  return out.subarray(0, j);
}
