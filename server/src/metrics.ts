/** Prometheus text exposition, kept by hand: a few counters and one histogram. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  private requests = new Map<string, number>();
  readonly records = { accepted: 0, duplicate: 0, rejected: 0 };
  /** Alerts raised (committed with their records, or by a silent host). */
  alertsRaised = 0;
  /** Outbox messages sent and failed attempts, by channel. */
  private deliveries = new Map<string, { sent: number; failed: number }>();
  /** Secrets replaced in records received (by this server or their reporter), by rule. */
  private redactions = new Map<string, number>();
  /** The outbox as last looked at by the dispatcher. */
  outbox = { pending: 0, oldestPendingSeconds: 0 };
  private ingestBuckets = new Array<number>(BUCKETS.length).fill(0);
  private ingestSum = 0;
  private ingestCount = 0;

  request(method: string, route: string, status: number): void {
    const key = `method="${method}",route="${route.replace(/["\\\n]/g, "_")}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  ingest(seconds: number): void {
    this.ingestSum += seconds;
    this.ingestCount++;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.ingestBuckets[i]!++;
  }

  redacted(rule: string): void {
    this.redactions.set(rule, (this.redactions.get(rule) ?? 0) + 1);
  }

  delivery(channel: string, ok: boolean): void {
    const d = this.deliveries.get(channel) ?? { sent: 0, failed: 0 };
    if (ok) d.sent++;
    else d.failed++;
    this.deliveries.set(channel, d);
  }

  render(): string {
    const out: string[] = [
      "# HELP cmdaudit_http_requests_total HTTP requests by route and status.",
      "# TYPE cmdaudit_http_requests_total counter",
    ];
    for (const [k, v] of this.requests) out.push(`cmdaudit_http_requests_total{${k}} ${v}`);
    out.push("# HELP cmdaudit_records_total Audit records received, by outcome.", "# TYPE cmdaudit_records_total counter");
    for (const [k, v] of Object.entries(this.records)) out.push(`cmdaudit_records_total{result="${k}"} ${v}`);
    out.push("# HELP cmdaudit_ingest_duration_seconds Time to validate and commit one ingest request.", "# TYPE cmdaudit_ingest_duration_seconds histogram");
    BUCKETS.forEach((b, i) => out.push(`cmdaudit_ingest_duration_seconds_bucket{le="${b}"} ${this.ingestBuckets[i]}`));
    out.push(`cmdaudit_ingest_duration_seconds_bucket{le="+Inf"} ${this.ingestCount}`);
    out.push(`cmdaudit_ingest_duration_seconds_sum ${this.ingestSum}`, `cmdaudit_ingest_duration_seconds_count ${this.ingestCount}`);
    out.push("# HELP cmdaudit_redactions_total Secrets replaced in the commands of records received (here or by their reporter; a resent record counts again), by rule.", "# TYPE cmdaudit_redactions_total counter");
    for (const [rule, n] of this.redactions) out.push(`cmdaudit_redactions_total{rule="${rule}"} ${n}`);
    out.push("# HELP cmdaudit_alerts_raised_total Alerts raised.", "# TYPE cmdaudit_alerts_raised_total counter", `cmdaudit_alerts_raised_total ${this.alertsRaised}`);
    out.push("# HELP cmdaudit_alert_deliveries_total Alert messages sent, and attempts that failed (each is retried), by channel.", "# TYPE cmdaudit_alert_deliveries_total counter");
    for (const [ch, d] of this.deliveries) {
      out.push(`cmdaudit_alert_deliveries_total{channel="${ch}",result="sent"} ${d.sent}`, `cmdaudit_alert_deliveries_total{channel="${ch}",result="failed"} ${d.failed}`);
    }
    out.push("# HELP cmdaudit_alert_outbox_pending Alert messages not yet delivered.", "# TYPE cmdaudit_alert_outbox_pending gauge", `cmdaudit_alert_outbox_pending ${this.outbox.pending}`);
    out.push("# HELP cmdaudit_alert_outbox_oldest_pending_seconds Age of the oldest undelivered alert message (0: none).", "# TYPE cmdaudit_alert_outbox_oldest_pending_seconds gauge",
      `cmdaudit_alert_outbox_oldest_pending_seconds ${this.outbox.oldestPendingSeconds}`);
    return out.join("\n") + "\n";
  }
}
