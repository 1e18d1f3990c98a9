import { describe, expect, test } from "bun:test";
import { escapeBytes, unescapeBytes } from "../../protocol/index.ts";
import { bytes, latin1, Rng, randomBytes } from "./helpers.ts";

describe("escapeBytes", () => {
  test("escapes exactly backslash, TAB, LF and CR", () => {
    expect(latin1(escapeBytes(bytes("\\")))).toBe("\\\\");
    expect(latin1(escapeBytes(bytes("\t")))).toBe("\\t");
    expect(latin1(escapeBytes(bytes("\n")))).toBe("\\n");
    expect(latin1(escapeBytes(bytes("\r")))).toBe("\\r");
  });

  test("every other byte value is written as is", () => {
    for (let b = 0; b < 256; b++) {
      if (b === 0x5c || b === 0x09 || b === 0x0a || b === 0x0d) continue;
      expect([...escapeBytes(Uint8Array.of(0x61, b, 0x62))]).toEqual([0x61, b, 0x62]);
    }
  });

  test("output never holds a raw TAB, LF or CR, whatever the input", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const out = escapeBytes(all);
    expect(out.length).toBe(256 + 4);
    for (const forbidden of [0x09, 0x0a, 0x0d]) expect(out.indexOf(forbidden)).toBe(-1);
  });

  test("literal backslash-n text and a real newline escape differently", () => {
    const literal = escapeBytes(bytes("a\\nb"));
    const real = escapeBytes(bytes("a\nb"));
    expect(latin1(literal)).toBe("a\\\\nb");
    expect(latin1(real)).toBe("a\\nb");
    expect(latin1(unescapeBytes(literal) as Uint8Array)).toBe("a\\nb");
    expect(latin1(unescapeBytes(real) as Uint8Array)).toBe("a\nb");
  });

  test("a mix of escapes in a row", () => {
    expect(latin1(escapeBytes(bytes("\\\\\t\t\r\n\\")))).toBe("\\\\\\\\\\t\\t\\r\\n\\\\");
  });
});

describe("unescapeBytes", () => {
  test("inverts escapeBytes for every single byte and every pair of bytes", () => {
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b += 17) {
        const src = Uint8Array.of(a, b);
        expect([...(unescapeBytes(escapeBytes(src)) as Uint8Array)]).toEqual([a, b]);
      }
    }
  });

  test("inverts escapeBytes on random byte strings", () => {
    const rng = new Rng(7);
    for (let i = 0; i < 2000; i++) {
      const src = randomBytes(rng, 64);
      const back = unescapeBytes(escapeBytes(src));
      expect(back).toBeInstanceOf(Uint8Array);
      expect(Buffer.compare(Buffer.from(back as Uint8Array), Buffer.from(src))).toBe(0);
    }
  });

  test("an unknown escape is an error naming it", () => {
    expect(unescapeBytes(bytes("ab\\qc"))).toBe("unknown escape \\q");
    expect(unescapeBytes(bytes("\\0"))).toBe("unknown escape \\0");
    // \N is not \n: escapes are case-sensitive.
    expect(unescapeBytes(bytes("\\N"))).toBe("unknown escape \\N");
  });

  test("a dangling backslash at the end is an error", () => {
    expect(unescapeBytes(bytes("abc\\"))).toBe("dangling backslash");
    expect(unescapeBytes(bytes("\\"))).toBe("dangling backslash");
    // An escaped backslash at the end is fine.
    expect(latin1(unescapeBytes(bytes("abc\\\\")) as Uint8Array)).toBe("abc\\");
  });

  test("input without backslashes comes back unchanged", () => {
    const src = bytes("plain text \x00\xff");
    expect([...(unescapeBytes(src) as Uint8Array)]).toEqual([...src]);
    expect((unescapeBytes(new Uint8Array(0)) as Uint8Array).length).toBe(0);
  });
});
