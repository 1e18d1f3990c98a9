import { HTTPException } from "hono/http-exception";
import type { Redactor } from "../../protocol/redact/index.ts";
import { requestId } from "hono/request-id";
import pkg from "../../package.json" with { type: "json" };
import { IngestAuthenticator, TokenSet } from "./auth.ts";
import { type Config, sharedIngestOn } from "./config.ts";
import type { Store } from "./db/store.ts";
import { DOCS_PATH, DOCUMENT_PATH, docsRoutes } from "./docs/index.ts";
import { type Logger, silentLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { AlertRaiser } from "./alerts/raise.ts";
import { RuleBook } from "./alerts/rulebook.ts";
import { IngestRateLimiter } from "./rate-limit.ts";
import { newRouter, SECURITY_SCHEMES } from "./openapi.ts";
import { alertsRoutes } from "./routes/alerts.ts";
import { commandsRoutes } from "./routes/commands.ts";
import { healthRoutes } from "./routes/health.ts";
import { hostsRoutes } from "./routes/hosts.ts";
import { ingestRawRoutes } from "./routes/ingest-raw.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { rulesRoutes } from "./routes/rules.ts";
import { sessionsRoutes } from "./routes/sessions.ts";
import { consoleRoutes } from "./console/routes.tsx";

export interface AppDeps {
  store: Store;
  config: Config;
  tokens: { ingest: IngestAuthenticator; read: TokenSet; admin: TokenSet };
  alerts: {
    rules: RuleBook;
    raiser: AlertRaiser;
    /** Ingest raised alerts: the dispatcher sends them now (main.ts); a no-op without one. */
    wake(): void;
  };
  logger: Logger;
  metrics: Metrics;
  /** One per app: both ingest routes take from it. */
  ingestLimiter: IngestRateLimiter;
  /** Replaces secrets in every command received (redaction.ts); undefined: commands are kept as they came. */
  redactor?: Redactor;
}

/** `clock` (ms): the rate limiter's, for tests of refills without sleeping. */
export function createApp(deps: {
  store: Store; config: Config; logger?: Logger; metrics?: Metrics; clock?: () => number; backtestLimits?: { budgetMs: number; batchMs: number };
  /** The server's own rule book, shared with its dispatcher; one of this app's own otherwise. */
  rules?: RuleBook;
  onAlerts?: () => void;
  redactor?: Redactor;
}) {
  const logger = deps.logger ?? silentLogger;
  const d: AppDeps = {
    ...deps,
    logger,
    alerts: {
      rules: deps.rules ?? new RuleBook(deps.config.alerts, deps.store, logger),
      raiser: new AlertRaiser(deps.config.alerts.channels.map((c) => ({ name: c.name, minSeverity: c.min_severity })), deps.config.alerts.dedupe_window_seconds * 1e6),
      wake: deps.onAlerts ?? (() => {}),
    },
    metrics: deps.metrics ?? new Metrics(),
    ingestLimiter: new IngestRateLimiter({
      bytesPerMinute: deps.config.limits.ingest_bytes_per_minute, requestsPerMinute: deps.config.limits.ingest_requests_per_minute,
    }, deps.clock),
    tokens: {
      ingest: new IngestAuthenticator(deps.config.tokens.host_key, deps.config.tokens.host_generations, sharedIngestOn(deps.config) ? deps.config.tokens.ingest : []),
      read: new TokenSet(deps.config.tokens.read),
      admin: new TokenSet(deps.config.tokens.admin, "admin"),
    },
  };
  const app = newRouter();

  app.use(requestId());
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath || "unmatched";
    d.metrics.request(c.req.method, route, c.res.status);
    // Path only: query strings can carry command text (q=) and must not reach the logs.
    d.logger.log("info", "request", {
      reqId: c.get("requestId"), method: c.req.method, path: new URL(c.req.url).pathname, route,
      status: c.res.status, ms: Math.round((performance.now() - started) * 10) / 10,
    });
  });

  app.route("/", healthRoutes(d));
  app.route("/metrics", metricsRoutes(d));
  app.route("/api/v1/commands", commandsRoutes(d));
  app.route("/api/v1/ingest/raw", ingestRawRoutes(d));
  app.route("/api/v1/hosts", hostsRoutes(d));
  app.route("/api/v1/sessions", sessionsRoutes(d));
  app.route("/api/v1/rules", rulesRoutes(d, deps.backtestLimits));
  app.route("/api/v1/alerts", alertsRoutes(d));

  // Public, as /healthz is: the document and the page describe the API (the same as this source
  // tree does) and hold no record, host or setting of this server.
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) app.openAPIRegistry.registerComponent("securitySchemes", name, scheme);
  app.doc31(DOCUMENT_PATH, {
    openapi: "3.1.0",
    info: {
      title: "cmdaudit",
      version: pkg.version,
      description: "Audit records of shell commands: reporters add them (ingest token), people read them (read token).",
    },
    servers: [{ url: "/", description: "This server" }],
    tags: [
      { name: "ingest", description: "Reporters add records." },
      { name: "query", description: "People read records and hosts." },
      { name: "health", description: "Liveness and readiness, without a token." },
      { name: "operations", description: "Metrics." },
      { name: "alerts", description: "Alert rules of the API's own (admin token)." },
    ],
  });
  app.route(DOCS_PATH, docsRoutes());
  // The console's pages last: its "/" and /hosts must not shadow the API's routes.
  app.route("/", consoleRoutes(d));

  app.notFound((c) => c.json({ code: 404, msg: "not found" }, 404));
  app.onError((err, c) => {
    if (err instanceof HTTPException) {
      return c.json({ code: err.status, msg: err.message }, err.status);
    }
    d.logger.log("error", "unhandled error", { reqId: c.get("requestId"), error: err.name });
    return c.json({ code: 500, msg: "internal error" }, 500);
  });
  return app;
}
