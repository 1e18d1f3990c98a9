/** What every router shares to declare its routes in the OpenAPI document (routes/*.ts). */
import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
// Types only: the schema type @hono/zod-openapi itself takes (from its dependency openapi3-ts).
import type { SchemaObject } from "openapi3-ts/oas31";
import { z } from "zod";
import { errorSchema } from "../../protocol/index.ts";
import { type Authenticator, requireToken } from "./auth.ts";

/** A bad query: 400 naming the parameter (a message that already names it is kept as it is). */
export function badRequest(issues: z.core.$ZodIssue[]): never {
  const i = issues[0]!;
  const path = i.path.join(".");
  const msg = i.code === "unrecognized_keys" ? `unknown query parameter(s): ${i.keys.join(", ")}`
    : path === "" || i.message.startsWith(`${path} `) ? i.message : `${path}: ${i.message}`;
  throw new HTTPException(400, { message: msg });
}

/** A router whose validation failures are the same 400 error envelope as every other error. */
export function newRouter() {
  return new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) badRequest(result.error.issues);
    },
  });
}

/**
 * zod's own JSON Schema of what a body may hold on the way in, for a schema the route does not
 * validate with (its handler reads the body itself). 2020-12 is the dialect of OpenAPI 3.1.
 */
export function inputJsonSchema(schema: z.ZodType): SchemaObject {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  // The two libraries' TS types of one JSON Schema differ only in spelling (e.g. boolean subschemas).
  return rest as SchemaObject;
}

export const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const error = (description: string) => json(errorSchema, description);

/** The error answers, by status; a route lists those it can give. */
export const errors = {
  400: error("Bad request: a parameter or the body is malformed; msg says which."),
  401: error("No token, an unknown one, or one of the other scope (no detail on purpose)."),
  413: error("The body is larger than limits.max_body_bytes (before or after gzip), inflates more than limits.max_gzip_ratio times, "
    + "or holds more than limits.max_records_per_batch records (raw: 20,000 lines, the hook writing an empty line before each of its own)."),
  415: error("Content-Encoding other than gzip or none."),
  429: error("This host sent more than limits.ingest_requests_per_minute requests or limits.ingest_bytes_per_minute bytes: retry after Retry-After seconds; nothing was stored."),
  503: error("The database is unavailable; nothing was stored: retry the batch."),
} as const;

/** Either header carries the token; which token (ingest or read) each route takes is in its description. */
export const SECURITY_SCHEMES = {
  accessToken: { type: "apiKey", in: "header", name: "AccessToken", description: "A token in the AccessToken header (the seed's way)." },
  bearer: { type: "http", scheme: "bearer", description: "A token in Authorization: Bearer." },
} as const;
const tokenSecurity: Record<string, string[]>[] = [{ accessToken: [] }, { bearer: [] }];

/** A route that takes a token `auth` knows: what the document says and what the server checks, declared together. */
export function tokenRequired(auth: Authenticator) {
  return { security: tokenSecurity, middleware: [requireToken(auth)] };
}
