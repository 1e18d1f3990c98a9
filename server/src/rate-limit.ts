import { createHash } from "node:crypto";

/** How much one ingest token may send: each a per-minute rate that is also the burst. */
export interface IngestRates {
  /** Decompressed body bytes a minute (limits.ingest_bytes_per_minute). */
  bytesPerMinute: number;
  /** Requests a minute (limits.ingest_requests_per_minute). */
  requestsPerMinute: number;
}

/**
 * Buckets kept at most. Only requests with a valid token reach the limiter, so this bounds a fleet
 * of hosts, not an attacker's guesses; past it buckets idle a minute go first, else the least recently used.
 */
export const MAX_BUCKETS = 100_000;

interface Bucket {
  bytes: number;
  requests: number;
  /** Clock (ms) of the last refill. */
  at: number;
}

/** Why a request must wait: the limit's config key, its value, and the seconds until the bucket holds enough again. */
export interface Refusal {
  key: "limits.ingest_requests_per_minute" | "limits.ingest_bytes_per_minute";
  limit: number;
  retryAfterSeconds: number;
}

/**
 * A token bucket per presented ingest token, keyed by the token's SHA-256 (the token itself is never
 * kept). A request is let in while its token holds a whole request and any bytes; its body's bytes
 * are charged once read, and may take the bytes below zero (a body larger than the bucket still
 * passes once, then the token waits until the debt is refilled): the rate over time holds either way.
 */
export class IngestRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly rates: IngestRates, private readonly now: () => number = Date.now, private readonly maxBuckets = MAX_BUCKETS) {}

  static key(presented: string): string {
    return createHash("sha256").update(presented).digest("base64");
  }

  /** Take one request of `key`'s bucket; or, when it holds no whole request or no bytes, why not (nothing taken). */
  admit(key: string): Refusal | undefined {
    const b = this.bucket(key);
    if (b.requests < 1) return refusal("limits.ingest_requests_per_minute", this.rates.requestsPerMinute, 1 - b.requests);
    if (b.bytes <= 0) return refusal("limits.ingest_bytes_per_minute", this.rates.bytesPerMinute, 1 - b.bytes);
    b.requests -= 1;
    return undefined;
  }

  /** Charge `bytes` (a body as decompressed) to `key`'s bucket. */
  charge(key: string, bytes: number): void {
    this.bucket(key).bytes -= bytes;
  }

  /** Buckets held (for tests of the bound). */
  get size(): number {
    return this.buckets.size;
  }

  private bucket(key: string): Bucket {
    const t = this.now();
    let b = this.buckets.get(key);
    if (b) {
      // Move to the end: the map's order is then least recently used first.
      this.buckets.delete(key);
      const minutes = Math.max(0, t - b.at) / 60_000;
      b.bytes = Math.min(this.rates.bytesPerMinute, b.bytes + minutes * this.rates.bytesPerMinute);
      b.requests = Math.min(this.rates.requestsPerMinute, b.requests + minutes * this.rates.requestsPerMinute);
      b.at = t;
    } else {
      if (this.buckets.size >= this.maxBuckets) this.evict(t);
      b = { bytes: this.rates.bytesPerMinute, requests: this.rates.requestsPerMinute, at: t };
    }
    this.buckets.set(key, b);
    return b;
  }

  /** Drop buckets idle a whole minute (they are full again, as a new one would be); if none is, the least recently used. */
  private evict(t: number): void {
    for (const [k, b] of this.buckets) if (t - b.at >= 60_000) this.buckets.delete(k);
    if (this.buckets.size >= this.maxBuckets) this.buckets.delete(this.buckets.keys().next().value!);
  }
}

/** `missing`: what the bucket lacks, refilled at `limit` a minute. */
function refusal(key: Refusal["key"], limit: number, missing: number): Refusal {
  return { key, limit, retryAfterSeconds: Math.max(1, Math.ceil((missing / limit) * 60)) };
}
