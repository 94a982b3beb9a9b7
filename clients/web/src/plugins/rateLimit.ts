// Token buckets: a plugin may make a burst of calls, then only as many as
// the bucket refills. Time is passed in, so the tests need no clock.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly capacity: number,
    readonly perSecond: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  /** Takes a token if one is left at `now`; false when the bucket is empty. */
  take(now: number): boolean {
    this.tokens = Math.min(this.capacity, this.tokens + (Math.max(0, now - this.last) / 1000) * this.perSecond);
    this.last = Math.max(this.last, now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * One plugin's limits: every message it sends, and, tighter, messages it
 * posts as the user (a burst of 5, then one every 3 seconds) and panels it
 * redraws.
 */
export class PluginRateLimits {
  private readonly all: TokenBucket;
  private readonly sends: TokenBucket;
  private readonly panels: TokenBucket;

  constructor(now: number) {
    this.all = new TokenBucket(40, 20, now);
    this.sends = new TokenBucket(5, 1 / 3, now);
    this.panels = new TokenBucket(10, 2, now);
  }

  /** Whether a message of this kind (a request's method, or "log") may go through now. */
  allow(kind: string, now: number): boolean {
    if (!this.all.take(now)) return false;
    if (kind === "sendMessage") return this.sends.take(now);
    if (kind === "showPanel") return this.panels.take(now);
    return true;
  }
}
