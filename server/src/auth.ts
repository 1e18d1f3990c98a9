import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { looksLikeHostToken, verifyHostToken } from "./host-token.ts";

export type Scope = "ingest" | "read";

/**
 * Who a request's token says it is: a reader, one host (its per-host token; the host name in lower
 * case), or any host (a shared fleet-wide ingest token, tokens.shared_ingest).
 */
export type Identity = { kind: "read" } | { kind: "admin" } | { kind: "host"; host: string } | { kind: "shared" };

declare module "hono" {
  interface ContextVariableMap {
    identity: Identity;
  }
}

/** Whatever turns a presented token into an identity of one scope. */
export interface Authenticator {
  identify(presented: string): Identity | undefined;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Configured tokens are kept only as SHA-256 digests ("sha256:<hex>" entries are digests already). */
export class TokenSet {
  private readonly digests: Buffer[];
  constructor(tokens: string[], private readonly kind: "read" | "admin" | "shared" = "read") {
    this.digests = tokens.map((t) => {
      if (!t.startsWith("sha256:")) return digest(t);
      // timingSafeEqual throws on a length mismatch: a malformed digest must fail here, not on every request.
      if (!/^[0-9a-fA-F]{64}$/.test(t.slice(7))) throw new Error("a sha256: token entry must hold exactly 64 hex digits");
      return Buffer.from(t.slice(7), "hex");
    });
  }

  identify(presented: string): Identity | undefined {
    return this.has(presented) ? { kind: this.kind } : undefined;
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

/**
 * Ingest tokens: per-host tokens under `hostKey` (when one is configured) and, while the fleet still
 * uses them (`tokens.shared_ingest`), shared tokens that may write for every host.
 */
export class IngestAuthenticator implements Authenticator {
  private readonly shared: TokenSet;
  private readonly generations: Readonly<Record<string, number>>;
  constructor(private readonly hostKey: string | undefined, generations: Readonly<Record<string, number>>, shared: string[]) {
    this.shared = new TokenSet(shared, "shared");
    // Host names are compared in lower case (the config's own keys are lowered too; a config built in code may not be).
    this.generations = Object.fromEntries(Object.entries(generations).map(([h, n]) => [h.toLowerCase(), n]));
  }

  identify(presented: string): Identity | undefined {
    if (this.hostKey !== undefined && looksLikeHostToken(presented)) {
      const host = verifyHostToken(this.hostKey, this.generations, presented);
      return host === undefined ? undefined : { kind: "host", host };
    }
    return this.shared.identify(presented);
  }
}

/** 401 without detail: no hint whether the token was missing, unknown, revoked or of the other scope. */
export function requireToken(auth: Authenticator): MiddlewareHandler {
  return async (c, next) => {
    const t = presentedToken((n) => c.req.header(n));
    const id = t ? auth.identify(t) : undefined;
    if (!id) throw new HTTPException(401, { message: "unauthorized" });
    c.set("identity", id);
    await next();
  };
}
