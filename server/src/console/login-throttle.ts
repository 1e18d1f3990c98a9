/** Failed sign-ins per user name and address: after 10 within 15 minutes, that pair waits out the window. */
export class LoginThrottle {
  private readonly failures = new Map<string, { n: number; until: number }>();
  constructor(private readonly max = 10, private readonly windowMs = 15 * 60_000, private readonly now = () => Date.now()) {}

  blocked(key: string): boolean {
    const f = this.failures.get(key);
    if (!f) return false;
    if (f.until <= this.now()) {
      this.failures.delete(key);
      return false;
    }
    return f.n >= this.max;
  }

  failed(key: string): void {
    const f = this.failures.get(key);
    if (!f || f.until <= this.now()) this.failures.set(key, { n: 1, until: this.now() + this.windowMs });
    else f.n++;
    // Bounded: a flood of made-up names cannot grow the map without end.
    if (this.failures.size > 100_000) this.failures.delete(this.failures.keys().next().value!);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }
}
