// Text imports: the compiled server carries both files inside its binary (bun build --compile).
import css from "./assets/console.css" with { type: "text" };
// @ts-expect-error TS7016: TypeScript types a .js file as a module (implicitly any); Bun imports it as its text.
import jsText from "./assets/console.js" with { type: "text" };

const js: string = jsText;

/** The console's only assets, served under /assets/: nothing comes from a CDN. */
export const ASSETS: Record<string, { body: string; type: string }> = {
  "console.css": { body: css, type: "text/css; charset=utf-8" },
  "console.js": { body: js, type: "text/javascript; charset=utf-8" },
};
