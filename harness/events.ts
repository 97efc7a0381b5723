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
