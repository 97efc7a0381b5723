import { EventEmitter } from 'node:events';

/**
 * The one event log: every API call and every state change the control plane makes, with
 * time. Assertions read it (e.g. the order services reached steady state) and the report
 * writes it out as timeline.json.
 */
export interface TimelineEvent {
  /** ms since the epoch */
  t: number;
  /** position in the log (0-based), to order events within one millisecond */
  seq: number;
  /** e.g. 'api.call', 'ecs.task.state', 'ecs.service.event', 'ecs.deployment.state' */
  type: string;
  [key: string]: unknown;
}

/** An AWS API call as the edge records it (type 'api.call'; aws/server.ts). */
export interface ApiCallEvent {
  t: number;
  seq: number;
  service: string;
  operation: string;
  status: number;
  error?: string;
  message?: string;
  /** scalar and short-list input fields (secret values masked) */
  input: Record<string, unknown>;
  /** a 200's failures (e.g. ECR BatchGetImage) */
  failures?: Record<string, unknown>[];
  /** the caller's AWS_EXECUTION_ENV (a script run's tag, see Scenario.runScript) */
  caller?: string;
}

/** The event as an API call, or undefined for any other event. */
export function apiCallOf(e: TimelineEvent): ApiCallEvent | undefined {
  if (e.type !== 'api.call' || typeof e.service !== 'string' || typeof e.operation !== 'string') return undefined;
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    t: e.t,
    seq: e.seq,
    service: e.service,
    operation: e.operation,
    status: typeof e.status === 'number' ? e.status : 0,
    error: text(e.error),
    message: text(e.message),
    input: e.input && typeof e.input === 'object' ? (e.input as Record<string, unknown>) : {},
    failures: Array.isArray(e.failures) ? (e.failures as Record<string, unknown>[]) : undefined,
    caller: text(e.caller),
  };
}

/** Whether an api.call event belongs to a script run: its tag when the call carries one, else its seq window. */
export function callOfRun(e: TimelineEvent, run: { fromSeq: number; toSeq: number; callerTag?: string }): boolean {
  if (e.seq < run.fromSeq || e.seq >= run.toSeq) return false;
  return !run.callerTag || typeof e.caller !== 'string' || e.caller === run.callerTag;
}

export class EventLog extends EventEmitter {
  private readonly items: TimelineEvent[] = [];

  constructor(private readonly now: () => number = Date.now) {
    super();
    this.setMaxListeners(0);
  }

  append(type: string, fields: Record<string, unknown> = {}): TimelineEvent {
    const ev: TimelineEvent = { t: this.now(), seq: this.items.length, type, ...fields };
    this.items.push(ev);
    this.emit('event', ev);
    return ev;
  }

  all(): readonly TimelineEvent[] {
    return this.items;
  }

  filter(type: string | ((e: TimelineEvent) => boolean)): TimelineEvent[] {
    return typeof type === 'string' ? this.items.filter((e) => e.type === type) : this.items.filter(type);
  }

  /** Resolves with the first event (past or future) matching pred. */
  waitFor(pred: (e: TimelineEvent) => boolean, signal?: AbortSignal): Promise<TimelineEvent> {
    const found = this.items.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onEvent = (e: TimelineEvent) => {
        if (pred(e)) {
          this.off('event', onEvent);
          resolve(e);
        }
      };
      this.on('event', onEvent);
      signal?.addEventListener('abort', () => {
        this.off('event', onEvent);
        reject(new Error('aborted waiting for event'));
      }, { once: true });
    });
  }

  toJSON(): TimelineEvent[] {
    return this.items;
  }
}
