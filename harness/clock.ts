/**
 * The one time source. Every emulated AWS interval (health-check interval, start period,
 * stopTimeout, ALB thresholds, deregistration delay, waiter delays) is expressed in the
 * seconds AWS documents and turned into real milliseconds here: `configured × timeScale`.
 * `--time-scale 1` gives AWS's real timing.
 */
export const DEFAULT_TIME_SCALE = 0.02;

export class Clock {
  readonly timeScale: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(timeScale = DEFAULT_TIME_SCALE) {
    if (!(timeScale > 0) || timeScale > 10) {
      throw new RangeError(`time scale must be in (0, 10], got ${timeScale}`);
    }
    this.timeScale = timeScale;
  }

  /** Wall-clock now; timestamps in API responses are real dates. */
  now(): Date {
    return new Date();
  }

  nowMs(): number {
    return Date.now();
  }

  /** Real milliseconds for an interval AWS expresses in seconds. */
  scaledMs(awsSeconds: number): number {
    return Math.max(0, Math.round(awsSeconds * 1000 * this.timeScale));
  }

  /** Waits an AWS interval (in AWS seconds), scaled. Rejects with AbortError when aborted. */
  sleep(awsSeconds: number, signal?: AbortSignal): Promise<void> {
    return this.sleepMs(this.scaledMs(awsSeconds), signal);
  }

  /** Waits real milliseconds (for harness-internal pacing that is not an AWS interval). */
  sleepMs(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const t = setTimeout(() => {
        this.timers.delete(t);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.timers.add(t);
      const onAbort = () => {
        clearTimeout(t);
        this.timers.delete(t);
        reject(abortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs fn after an AWS interval (scaled); returns a cancel function. */
  after(awsSeconds: number, fn: () => void): () => void {
    if (this.closed) return () => {};
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, this.scaledMs(awsSeconds));
    this.timers.add(t);
    return () => {
      clearTimeout(t);
      this.timers.delete(t);
    };
  }

  /** Runs fn every AWS interval (scaled); returns a cancel function. */
  every(awsSeconds: number, fn: () => void): () => void {
    if (this.closed) return () => {};
    const t = setInterval(fn, Math.max(1, this.scaledMs(awsSeconds)));
    this.timers.add(t);
    return () => {
      clearInterval(t);
      this.timers.delete(t);
    };
  }

  /** Runs fn every `ms` real milliseconds (harness pacing, not an AWS interval). */
  everyMs(ms: number, fn: () => void): () => void {
    if (this.closed) return () => {};
    const t = setInterval(fn, Math.max(1, ms));
    this.timers.add(t);
    return () => {
      clearInterval(t);
      this.timers.delete(t);
    };
  }

  /** Cancels every pending timer (teardown). */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

function abortError(): Error {
  const e = new Error('aborted');
  e.name = 'AbortError';
  return e;
}
