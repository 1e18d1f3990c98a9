/**
 * The API reference page (Scalar) at /api/docs, with its script served from here: the page
 * works without the internet, and `bun build --compile` embeds the script (a file import).
 */
import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
// The single-file (UMD) browser bundle; the package's exports do not list it, hence the path.
// @ts-expect-error A file import: Bun makes its value the file's path (embedded when compiled); TS sees an untyped JS module.
import scalarFile from "../../../node_modules/@scalar/api-reference/dist/browser/standalone.js" with { type: "file" };

const scalarScript: string = scalarFile;

export const DOCUMENT_PATH = "/api/v1/openapi.json";
export const DOCS_PATH = "/api/docs";
export const SCRIPT_PATH = "/api/docs/scalar.js";

export function docsRoutes() {
  return new Hono()
    .get("/", Scalar({
      url: DOCUMENT_PATH,
      cdn: SCRIPT_PATH,
      pageTitle: "cmdaudit API",
      // Nothing leaves for third parties: no web fonts, no telemetry, no request proxy for "try it".
      withDefaultFonts: false,
      telemetry: false,
      proxyUrl: "",
    }))
    .get("/scalar.js", () => new Response(Bun.file(scalarScript), {
      headers: { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=86400" },
    }));
}
