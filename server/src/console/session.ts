/**
 * Signing in to the console: a random token in an HttpOnly, SameSite=Strict cookie (Secure and
 * `__Host-` under TLS); the database keeps only its SHA-256. Each form carries a CSRF token derived
 * from the cookie's token, so a page of another site can neither read it nor post one that matches.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppDeps } from "../app.ts";
import type { ConsoleSession, ConsoleUser } from "../db/store.ts";

export interface Viewer {
  user: ConsoleUser;
  session: ConsoleSession;
  /** The CSRF token every form of this session carries. */
  csrf: string;
}

declare module "hono" {
  interface ContextVariableMap {
    viewer: Viewer;
  }
}

export const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex");
const csrfOf = (token: string) => createHmac("sha256", token).update("cmdaudit console csrf").digest("base64url");

/** Under TLS the cookie is `__Host-` (Secure, path /, no domain: no other host or path can set it). */
export function cookieName(deps: AppDeps): string {
  return deps.config.tls ? "__Host-cmdaudit" : "cmdaudit";
}

/** Equal strings, in time independent of where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

/** A new signed-in session of `user`: stored by its hash, its token set as the cookie. */
export async function signIn(c: Context, deps: AppDeps, user: ConsoleUser): Promise<void> {
  const token = randomBytes(32).toString("base64url");
  const nowUs = Date.now() * 1000;
  const ttl = deps.config.console.session_hours * 3600;
  await deps.store.createConsoleSession({ idHash: tokenHash(token), userName: user.name, createdUs: nowUs, expiresUs: nowUs + ttl * 1e6 });
  setCookie(c, cookieName(deps), token, {
    httpOnly: true, sameSite: "Strict", secure: !!deps.config.tls, path: "/", maxAge: Math.floor(ttl),
  });
}

export async function signOut(c: Context, deps: AppDeps): Promise<void> {
  const token = getCookie(c, cookieName(deps));
  if (token) await deps.store.removeConsoleSession(tokenHash(token));
  deleteCookie(c, cookieName(deps), { path: "/", secure: !!deps.config.tls });
}

/** The signed-in viewer, or undefined (no cookie, an unknown or expired session, a removed user). */
export async function viewerOf(c: Context, deps: AppDeps): Promise<Viewer | undefined> {
  const token = getCookie(c, cookieName(deps));
  if (!token || token.length > 100) return undefined;
  const found = await deps.store.consoleSession(tokenHash(token), Date.now() * 1000);
  return found && { ...found, csrf: csrfOf(token) };
}

/** Pages need a signed-in viewer: otherwise to the sign-in page, which brings them back here. */
export function requireViewer(deps: AppDeps): MiddlewareHandler {
  return async (c, next) => {
    const v = await viewerOf(c, deps);
    if (!v) {
      const url = new URL(c.req.url);
      return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    c.set("viewer", v);
    c.header("Cache-Control", "no-store");
    await next();
  };
}

/** A `next` that stays on this server: a path, never `//host` or a scheme. */
export function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : "/";
}
