import { EventEmitter } from 'node:events';
import { AwsError } from '../protocol/errors.ts';
import type { EventSink } from '../protocol/types.ts';

export interface LogsStoreDeps {
  account: string;
  region: string;
  /** wall-clock now, for ingestion times and creation times */
  now?: () => Date;
  events?: EventSink;
}

export interface LogEvent {
  /** ms since the epoch, as the producer stamped it */
  timestamp: number;
  message: string;
  /** ms since the epoch, when we received it */
  ingestionTime: number;
  /** monotonic per store: orders events with equal timestamps and makes event ids */
  seq: number;
}

export interface LogStream {
  name: string;
  arn: string;
  creationTime: number;
  /** sorted by (timestamp, seq) */
  events: LogEvent[];
  lastIngestionTime?: number;
  uploadSequence: number;
}

export interface LogGroup {
  name: string;
  arn: string;
  creationTime: number;
  retentionInDays?: number;
  tags: Record<string, string>;
  streams: Map<string, LogStream>;
}

export interface InputLogEvent {
  timestamp: number;
  message: string;
}

export interface RejectedLogEventsInfo {
  tooNewLogEventStartIndex?: number;
  tooOldLogEventEndIndex?: number;
  expiredLogEventEndIndex?: number;
}

/** What subscribers (tests, the report) get for each stored event. */
export interface LogEventNotice {
  logGroupName: string;
  logStreamName: string;
  event: LogEvent;
}

const GROUP_NAME = /^[.\-_/#A-Za-z0-9]{1,512}$/;
const DAY = 86_400_000;

export const logsErrors = {
  groupNotFound: () => new AwsError('ResourceNotFoundException', 'The specified log group does not exist.'),
  streamNotFound: () => new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.'),
  groupExists: () => new AwsError('ResourceAlreadyExistsException', 'The specified log group already exists'),
  streamExists: () => new AwsError('ResourceAlreadyExistsException', 'The specified log stream already exists'),
  invalidParameter: (msg: string) => new AwsError('InvalidParameterException', msg),
};

/**
 * CloudWatch Logs state: groups, streams, events. The ECS scheduler's awslogs driver writes
 * through `appendTaskLog`; tests read with `readLogEvents` or await events with `onLogEvent`.
 */
export class LogsStore {
  readonly account: string;
  readonly region: string;
  readonly now: () => Date;
  private readonly sink?: EventSink;
  private readonly groups = new Map<string, LogGroup>();
  private readonly emitter = new EventEmitter();
  private seq = 0;

  constructor(deps: LogsStoreDeps) {
    this.account = deps.account;
    this.region = deps.region;
    this.now = deps.now ?? (() => new Date());
    this.sink = deps.events;
    this.emitter.setMaxListeners(0);
  }

  createLogGroup(name: string, opts: { tags?: Record<string, string>; retentionInDays?: number } = {}): LogGroup {
    if (typeof name !== 'string' || !GROUP_NAME.test(name)) {
      throw logsErrors.invalidParameter(
        `1 validation error detected: Value '${name}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+`,
      );
    }
    if (this.groups.has(name)) throw logsErrors.groupExists();
    const g: LogGroup = {
      name,
      arn: `arn:aws:logs:${this.region}:${this.account}:log-group:${name}`,
      creationTime: this.now().getTime(),
      retentionInDays: opts.retentionInDays,
      tags: { ...opts.tags },
      streams: new Map(),
    };
    this.groups.set(name, g);
    this.sink?.append('logs.group.created', { logGroupName: name });
    return g;
  }

  getLogGroup(name: string): LogGroup {
    const g = this.groups.get(name);
    if (!g) throw logsErrors.groupNotFound();
    return g;
  }

  hasLogGroup(name: string): boolean {
    return this.groups.has(name);
  }

  listLogGroups(): LogGroup[] {
    return [...this.groups.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  deleteLogGroup(name: string): void {
    this.getLogGroup(name);
    this.groups.delete(name);
    this.sink?.append('logs.group.deleted', { logGroupName: name });
  }

  putRetentionPolicy(name: string, days: number | undefined): void {
    this.getLogGroup(name).retentionInDays = days;
  }

  createLogStream(group: string, stream: string): LogStream {
    const g = this.getLogGroup(group);
    if (typeof stream !== 'string' || stream.length < 1 || stream.length > 512 || /[:*]/.test(stream)) {
      throw logsErrors.invalidParameter(
        `1 validation error detected: Value '${stream}' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*`,
      );
    }
    if (g.streams.has(stream)) throw logsErrors.streamExists();
    const s: LogStream = {
      name: stream,
      arn: `${g.arn}:log-stream:${stream}`,
      creationTime: this.now().getTime(),
      events: [],
      uploadSequence: 0,
    };
    g.streams.set(stream, s);
    return s;
  }

  getLogStream(group: string, stream: string): LogStream {
    const s = this.getLogGroup(group).streams.get(stream);
    if (!s) throw logsErrors.streamNotFound();
    return s;
  }

  deleteLogStream(group: string, stream: string): void {
    const g = this.getLogGroup(group);
    if (!g.streams.delete(stream)) throw logsErrors.streamNotFound();
  }

  /**
   * PutLogEvents: the batch must be in chronological order; events more than 2 h in the future
   * or older than 14 days (or than the retention) are rejected by index, as AWS does.
   */
  putLogEvents(group: string, stream: string, events: InputLogEvent[]): { nextSequenceToken: string; rejectedLogEventsInfo?: RejectedLogEventsInfo } {
    const s = this.getLogStream(group, stream);
    const g = this.getLogGroup(group);
    if (events.length === 0) throw logsErrors.invalidParameter('Log events must contain at least 1 event.');
    for (let i = 1; i < events.length; i++) {
      if (events[i]!.timestamp < events[i - 1]!.timestamp) {
        throw logsErrors.invalidParameter('Log events in a single PutLogEvents request must be in chronological order.');
      }
    }
    const now = this.now().getTime();
    const rejected: RejectedLogEventsInfo = {};
    const accepted: InputLogEvent[] = [];
    events.forEach((e, i) => {
      if (e.timestamp > now + 2 * 3600_000) {
        rejected.tooNewLogEventStartIndex ??= i;
      } else if (e.timestamp < now - 14 * DAY) {
        rejected.tooOldLogEventEndIndex = i;
      } else if (g.retentionInDays !== undefined && e.timestamp < now - g.retentionInDays * DAY) {
        rejected.expiredLogEventEndIndex = i;
      } else {
        accepted.push(e);
      }
    });
    for (const e of accepted) this.store(g, s, e.timestamp, e.message, now);
    s.uploadSequence++;
    return { nextSequenceToken: sequenceToken(s.uploadSequence), ...(Object.keys(rejected).length ? { rejectedLogEventsInfo: rejected } : {}) };
  }

  /**
   * The awslogs driver's path (awslogs-create-group: true): creates the group and stream on
   * demand and stores one line. No limits apply.
   */
  appendTaskLog(group: string, stream: string, message: string, timestampMs: number): void {
    const g = this.groups.get(group) ?? this.createLogGroup(group);
    const s = g.streams.get(stream) ?? this.createLogStream(group, stream);
    this.store(g, s, timestampMs, message, this.now().getTime());
  }

  /** All events of a stream (or of every stream of the group, by time), for tests and reports. */
  readLogEvents(group: string, stream?: string): (LogEvent & { logStreamName: string })[] {
    const g = this.getLogGroup(group);
    const streams = stream !== undefined ? [this.getLogStream(group, stream)] : [...g.streams.values()];
    return streams
      .flatMap((s) => s.events.map((e) => ({ ...e, logStreamName: s.name })))
      .sort((a, b) => a.timestamp - b.timestamp || a.seq - b.seq);
  }

  /** Calls listener for every event stored from now on; returns an unsubscribe function. */
  onLogEvent(listener: (n: LogEventNotice) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  private store(g: LogGroup, s: LogStream, timestamp: number, message: string, ingestionTime: number): void {
    const ev: LogEvent = { timestamp, message, ingestionTime, seq: ++this.seq };
    // keep (timestamp, seq) order; appends are nearly always at the end
    let i = s.events.length;
    while (i > 0 && s.events[i - 1]!.timestamp > timestamp) i--;
    s.events.splice(i, 0, ev);
    s.lastIngestionTime = ingestionTime;
    this.emitter.emit('event', { logGroupName: g.name, logStreamName: s.name, event: ev } satisfies LogEventNotice);
  }
}

function sequenceToken(n: number): string {
  return String(n).padStart(56, '0');
}

/** AWS-style 56-digit event id from an event's sequence number. */
export function eventId(e: LogEvent): string {
  return String(e.seq).padStart(56, '0');
}
