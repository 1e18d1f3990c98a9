import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";

export type Scope = "ingest" | "read";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Configured tokens are kept only as SHA-256 digests ("sha256:<hex>" entries are digests already). */
export class TokenSet {
  private readonly digests: Buffer[];
  constructor(tokens: string[]) {
    this.digests = tokens.map((t) => {
      if (!t.startsWith("sha256:")) return digest(t);
      // timingSafeEqual throws on a length mismatch: a malformed digest must fail here, not on every request.
      if (!/^[0-9a-fA-F]{64}$/.test(t.slice(7))) throw new Error("a sha256: token entry must hold exactly 64 hex digits");
      return Buffer.from(t.slice(7), "hex");
    });
  }

  /** Constant time in the token's content: every digest is compared, no early exit. */
  has(presented: string): boolean {
    const d = digest(presented);
    let ok = false;
    for (const want of this.digests) ok = timingSafeEqual(d, want) || ok;
    return ok;
  }
}

/** The seed's `AccessToken` header, or `Authorization: Bearer`. */
export function presentedToken(header: (name: string) => string | undefined): string | undefined {
  const access = header("accesstoken");
  if (access) return access;
  const auth = header("authorization");
  if (auth && /^bearer /i.test(auth)) return auth.slice(7).trim();
  return undefined;
}

/** 401 without detail: no hint whether the token was missing, unknown or of the other scope. */
export function requireToken(tokens: TokenSet): MiddlewareHandler {
  return async (c, next) => {
    const t = presentedToken((n) => c.req.header(n));
    if (!t || !tokens.has(t)) throw new HTTPException(401, { message: "unauthorized" });
    await next();
  };
}
