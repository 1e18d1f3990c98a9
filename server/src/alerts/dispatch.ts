/**
 * Sends the outbox: every message due is claimed (a lease, so two servers on one database never
 * send one message both), sent, and marked sent; a failed send is tried again with backoff, for as
 * long as it takes: a receiver that is down loses nothing. Closed de-duplication windows get their
 * repeat message; hosts are checked for silence. One loop per server, woken by ingest when it raised
 * alerts and every `pollMs` otherwise.
 */
import type { OutboxMessage, Store } from "../db/store.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { AlertMessage, Channel } from "./channels/channel.ts";
import type { RouteTarget } from "./raise.ts";
import type { RuleBook } from "./rulebook.ts";
import { silentHostDrafts } from "./silence.ts";

export interface DispatchOptions {
  pollMs: number;
  /** How long a claimed message is withheld from others while one server sends it. */
  leaseMs: number;
  /** The longest wait between two attempts of one message. */
  maxBackoffMs: number;
  windowUs: number;
  silentAfterSeconds: number;
  /** How often hosts are checked for silence. */
  silenceCheckMs: number;
  /** Links in messages: the console's address as people reach it. */
  consoleUrl?: string;
  /** Messages sent at once. */
  concurrency: number;
}

export const DISPATCH_DEFAULTS: Omit<DispatchOptions, "windowUs" | "silentAfterSeconds"> = {
  pollMs: 1000, leaseMs: 60_000, maxBackoffMs: 300_000, silenceCheckMs: 30_000, concurrency: 8,
};

/** 1 s, 2 s, 4 s … up to the cap, each between half and all of it (so a fleet of retries spreads). */
export function backoffMs(attempts: number, maxMs: number): number {
  const full = Math.min(maxMs, 1000 * 2 ** Math.min(attempts, 30));
  return Math.round(full / 2 + (Math.random() * full) / 2);
}

export class Dispatcher {
  private readonly channels: Map<string, Channel>;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastSilenceCheck = -Infinity;

  constructor(
    private readonly store: Store,
    channels: Channel[],
    private readonly rules: RuleBook,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly opts: DispatchOptions,
    private readonly now: () => number = () => Date.now() * 1000,
  ) {
    this.channels = new Map(channels.map((c) => [c.name, c]));
  }

  routes(): RouteTarget[] {
    return [...this.channels.values()].map((c) => ({ name: c.name, minSeverity: c.minSeverity }));
  }

  start(): void {
    this.schedule(0);
  }

  /** Ingest raised alerts: send them now rather than at the next poll. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await Promise.all([...this.channels.values()].map((c) => c.close?.()));
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.tick().catch((e: Error) => {
        this.logger.log("error", "alert dispatch failed", { error: e.name, message: e.message.slice(0, 200) });
      }).finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        const next = this.again ? 0 : this.opts.pollMs;
        this.again = false;
        this.schedule(next);
      });
    }, ms);
  }

  /** One round: silence check (when due), settle closed windows, send what is due. Exposed for tests. */
  async tick(): Promise<void> {
    const now = this.now();
    if (performance.now() - this.lastSilenceCheck >= this.opts.silenceCheckMs) {
      this.lastSilenceCheck = performance.now();
      const drafts = silentHostDrafts(await this.store.hosts(), await this.rules.current(), this.routes(), this.opts.silentAfterSeconds, now);
      const raised = await this.store.raiseAlerts(drafts, now, this.opts.windowUs);
      this.metrics.alertsRaised += raised;
    }
    await this.store.settleWindows(now, 1000);
    for (;;) {
      const due = await this.store.dueMessages(this.now(), 100);
      if (!due.length) break;
      await this.sendAll(due);
      if (this.stopped || due.length < 100) break;
    }
    const stats = await this.store.outboxStats();
    this.metrics.outbox = { pending: stats.pending, oldestPendingSeconds: stats.oldestPendingUs ? Math.max(0, Math.floor((this.now() - stats.oldestPendingUs) / 1e6)) : 0 };
  }

  private async sendAll(due: OutboxMessage[]): Promise<void> {
    const queue = [...due];
    const worker = async () => {
      for (let m = queue.shift(); m; m = queue.shift()) await this.sendOne(m);
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, queue.length) }, worker));
  }

  private async sendOne(m: OutboxMessage): Promise<void> {
    const now = this.now();
    if (!(await this.store.claimMessage(m.id, m.nextAttemptUs, now + this.opts.leaseMs * 1000))) return;
    const channel = this.channels.get(m.channel);
    if (!channel) {
      // Its channel left the config: kept, and tried again, until the channel is back.
      await this.store.messageFailed(m.id, now + this.opts.maxBackoffMs * 1000, `no channel named ${m.channel} in alerts.channels`);
      this.metrics.delivery(m.channel, false);
      return;
    }
    const rule = (await this.rules.list()).find((e) => e.rule.id === m.alert.ruleId)?.rule;
    const message: AlertMessage = {
      deliveryId: `cmdaudit-${m.id}`, kind: m.kind, ruleId: m.alert.ruleId, severity: m.alert.severity,
      description: rule?.description ?? "", hostname: m.alert.hostname, luser: m.alert.luser, suser: m.alert.suser,
      command: m.alert.command, sessionId: m.alert.sessionId, seq: m.alert.seq, recordTsUs: m.alert.recordTsUs,
      raisedUs: m.alert.raisedUs, count: m.count, windowEndUs: m.windowEndUs, link: this.link(m),
    };
    try {
      await channel.send(message, AbortSignal.timeout(Math.max(1000, this.opts.leaseMs - 5000)));
      await this.store.messageSent(m.id, m.count, this.now());
      this.metrics.delivery(m.channel, true);
    } catch (e) {
      const error = (e as Error).message || (e as Error).name;
      await this.store.messageFailed(m.id, this.now() + backoffMs(m.attempts, this.opts.maxBackoffMs) * 1000, error);
      this.metrics.delivery(m.channel, false);
      this.logger.log("warn", "alert message not delivered; it will be tried again", { channel: m.channel, message: m.id, attempts: m.attempts + 1, error: error.slice(0, 200) });
    }
  }

  private link(m: OutboxMessage): string | undefined {
    const base = this.opts.consoleUrl?.replace(/\/+$/, "");
    if (!base) return undefined;
    const a = m.alert;
    if (a.sessionId !== null) return `${base}/sessions/${encodeURIComponent(a.sessionId)}?host=${encodeURIComponent(a.hostname)}${a.seq !== null ? `#seq-${a.seq}` : ""}`;
    return `${base}/hosts/${encodeURIComponent(a.hostname)}`;
  }
}
