import type { ServiceProvider } from '../protocol/types.ts';
import { Params } from '../protocol/validate.ts';
import { eventId, logsErrors, type LogEvent, type LogGroup, type LogStream, type LogsStore } from './store.ts';

const V = 'InvalidParameterException';
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** logGroupName, or logGroupIdentifier (a name or an ARN with or without `:*`). */
function groupName(p: Params, required = true): string {
  const name = p.optStr('logGroupName');
  const ident = p.optStr('logGroupIdentifier');
  if (name !== undefined && ident !== undefined) throw logsErrors.invalidParameter('LogGroup name and LogGroup ARN are mutually exclusive parameters.');
  if (ident !== undefined) {
    const m = /^arn:aws[\w-]*:logs:[^:]*:[^:]*:log-group:([^:]+)(?::\*)?$/.exec(ident);
    return m ? m[1]! : ident;
  }
  if (name === undefined && required) throw logsErrors.invalidParameter('Either logGroupName or logGroupIdentifier is required.');
  return name ?? '';
}

function pageToken(prefix: string, start: number): string {
  return Buffer.from(`${prefix}-${start}`).toString('base64');
}

function readPageToken(prefix: string, token: string | undefined): number {
  if (token === undefined) return 0;
  const m = new RegExp(`^${prefix}-(\\d+)$`).exec(Buffer.from(token, 'base64').toString('utf8'));
  if (!m) throw logsErrors.invalidParameter('The specified nextToken is invalid.');
  return Number(m[1]);
}

function limitOf(p: Params, max: number, dflt: number): number {
  const n = p.optInt('limit') ?? dflt;
  if (n < 1 || n > max) {
    throw logsErrors.invalidParameter(`1 validation error detected: Value '${n}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to ${max}`);
  }
  return n;
}

function groupOut(g: LogGroup) {
  return {
    logGroupName: g.name,
    creationTime: g.creationTime,
    retentionInDays: g.retentionInDays,
    metricFilterCount: 0,
    arn: `${g.arn}:*`,
    storedBytes: 0,
    logGroupClass: 'STANDARD',
    logGroupArn: g.arn,
  };
}

function streamOut(s: LogStream) {
  const first = s.events[0];
  const last = s.events[s.events.length - 1];
  return {
    logStreamName: s.name,
    creationTime: s.creationTime,
    firstEventTimestamp: first?.timestamp,
    lastEventTimestamp: last?.timestamp,
    lastIngestionTime: s.lastIngestionTime,
    uploadSequenceToken: String(s.uploadSequence).padStart(56, '0'),
    arn: s.arn,
    storedBytes: 0,
  };
}

/**
 * A CloudWatch Logs filter pattern over plain text: space-separated terms must all appear,
 * `"quoted phrases"` match exactly, `?term` terms match if any does, `-term` excludes.
 * Matching is case-sensitive, as in CloudWatch. JSON (`{…}`) and space-delimited (`[…]`)
 * patterns are not emulated: they are refused rather than silently mismatched.
 */
export function compileFilterPattern(pattern: string | undefined): (message: string) => boolean {
  const src = (pattern ?? '').trim();
  if (src === '') return () => true;
  if (src.startsWith('{') || src.startsWith('[') || (src.startsWith('%') && src.endsWith('%') && src.length > 1)) {
    throw logsErrors.invalidParameter(`Invalid filter pattern: the harness emulates term patterns only, not '${src}'`);
  }
  const required: string[] = [];
  const any: string[] = [];
  const excluded: string[] = [];
  const re = /([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))/g;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    const term = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
    if (m[1] === '?') any.push(term);
    else if (m[1] === '-') excluded.push(term);
    else required.push(term);
  }
  return (msg) =>
    required.every((t) => msg.includes(t)) && (any.length === 0 || any.some((t) => msg.includes(t))) && !excluded.some((t) => msg.includes(t));
}

/** Amazon CloudWatch Logs (JSON 1.1). Timestamps are epoch milliseconds on this wire. */
export function createLogsProvider(store: LogsStore): ServiceProvider {
  return {
    serviceName: 'logs',
    protocol: 'json',
    targetPrefix: 'Logs_20140328',
    validationErrorCode: V,
    operations: {
      CreateLogGroup(input) {
        const p = new Params(input, V);
        store.createLogGroup(p.str('logGroupName'), { tags: p.optObj<Record<string, string>>('tags') });
        return {};
      },

      DeleteLogGroup(input) {
        const p = new Params(input, V);
        store.deleteLogGroup(p.str('logGroupName'));
        return {};
      },

      PutRetentionPolicy(input) {
        const p = new Params(input, V);
        const days = p.int('retentionInDays');
        if (!RETENTION_DAYS.includes(days)) {
          throw logsErrors.invalidParameter(`1 validation error detected: Value '${days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [${RETENTION_DAYS.join(', ')}]`);
        }
        store.putRetentionPolicy(p.str('logGroupName'), days);
        return {};
      },

      DeleteRetentionPolicy(input) {
        const p = new Params(input, V);
        store.putRetentionPolicy(p.str('logGroupName'), undefined);
        return {};
      },

      DescribeLogGroups(input) {
        const p = new Params(input, V);
        const prefix = p.optStr('logGroupNamePrefix');
        const pattern = p.optStr('logGroupNamePattern');
        if (prefix !== undefined && pattern !== undefined) {
          throw logsErrors.invalidParameter('LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.');
        }
        let groups = store.listLogGroups();
        if (prefix !== undefined) groups = groups.filter((g) => g.name.startsWith(prefix));
        if (pattern !== undefined) groups = groups.filter((g) => g.name.toLowerCase().includes(pattern.toLowerCase()));
        const start = readPageToken('lg', p.optStr('nextToken'));
        const limit = limitOf(p, 50, 50);
        const page = groups.slice(start, start + limit);
        return { logGroups: page.map(groupOut), nextToken: start + page.length < groups.length ? pageToken('lg', start + page.length) : undefined };
      },

      CreateLogStream(input) {
        const p = new Params(input, V);
        store.createLogStream(p.str('logGroupName'), p.str('logStreamName'));
        return {};
      },

      DeleteLogStream(input) {
        const p = new Params(input, V);
        store.deleteLogStream(p.str('logGroupName'), p.str('logStreamName'));
        return {};
      },

      DescribeLogStreams(input) {
        const p = new Params(input, V);
        const g = store.getLogGroup(groupName(p));
        const prefix = p.optStr('logStreamNamePrefix');
        const orderBy = p.optEnum('orderBy', ['LogStreamName', 'LastEventTime'] as const) ?? 'LogStreamName';
        if (orderBy === 'LastEventTime' && prefix !== undefined) {
          throw logsErrors.invalidParameter('Cannot order by LastEventTime with a logStreamNamePrefix.');
        }
        let streams = [...g.streams.values()];
        if (prefix !== undefined) streams = streams.filter((s) => s.name.startsWith(prefix));
        const lastTs = (s: LogStream) => s.events[s.events.length - 1]?.timestamp ?? s.creationTime;
        streams.sort(orderBy === 'LogStreamName' ? (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : (a, b) => lastTs(a) - lastTs(b));
        if (p.optBool('descending')) streams.reverse();
        const start = readPageToken('ls', p.optStr('nextToken'));
        const limit = limitOf(p, 50, 50);
        const page = streams.slice(start, start + limit);
        return { logStreams: page.map(streamOut), nextToken: start + page.length < streams.length ? pageToken('ls', start + page.length) : undefined };
      },

      PutLogEvents(input) {
        const p = new Params(input, V);
        const events = p.optList<Record<string, unknown>>('logEvents');
        if (!events) throw logsErrors.invalidParameter('logEvents is required');
        const parsed = events.map((e) => {
          if (!e || typeof e.timestamp !== 'number' || typeof e.message !== 'string') {
            throw logsErrors.invalidParameter('Each log event needs a numeric timestamp and a message.');
          }
          return { timestamp: e.timestamp, message: e.message };
        });
        return store.putLogEvents(p.str('logGroupName'), p.str('logStreamName'), parsed);
      },

      GetLogEvents(input) {
        const p = new Params(input, V);
        const s = store.getLogStream(groupName(p), p.str('logStreamName'));
        const startTime = p.optInt('startTime');
        const endTime = p.optInt('endTime');
        // endTime is exclusive here (events at or after it are not returned)
        const events = s.events.filter((e) => (startTime === undefined || e.timestamp >= startTime) && (endTime === undefined || e.timestamp < endTime));
        const limit = limitOf(p, 10000, 10000);
        const token = p.optStr('nextToken');
        let from: number;
        let to: number;
        if (token !== undefined) {
          const m = /^([fb])\/(\d{56})$/.exec(token);
          if (!m) throw logsErrors.invalidParameter('The specified nextToken is invalid.');
          const pos = Math.min(Number(m[2]), events.length);
          [from, to] = m[1] === 'f' ? [pos, Math.min(events.length, pos + limit)] : [Math.max(0, pos - limit), pos];
        } else if (p.optBool('startFromHead')) {
          [from, to] = [0, Math.min(events.length, limit)];
        } else {
          [from, to] = [Math.max(0, events.length - limit), events.length];
        }
        return {
          events: events.slice(from, to).map((e: LogEvent) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime })),
          nextForwardToken: `f/${String(to).padStart(56, '0')}`,
          nextBackwardToken: `b/${String(from).padStart(56, '0')}`,
        };
      },

      FilterLogEvents(input) {
        const p = new Params(input, V);
        const g = store.getLogGroup(groupName(p));
        const names = p.optStrList('logStreamNames');
        const prefix = p.optStr('logStreamNamePrefix');
        if (names !== undefined && prefix !== undefined) {
          throw logsErrors.invalidParameter('logStreamNames and logStreamNamePrefix are mutually exclusive parameters.');
        }
        let streams: LogStream[];
        if (names !== undefined) {
          streams = names.map((n) => {
            const s = g.streams.get(n);
            if (!s) throw logsErrors.streamNotFound();
            return s;
          });
        } else {
          streams = [...g.streams.values()].filter((s) => prefix === undefined || s.name.startsWith(prefix));
        }
        const match = compileFilterPattern(p.optStr('filterPattern'));
        const startTime = p.optInt('startTime');
        const endTime = p.optInt('endTime');
        const all = streams
          .flatMap((s) => s.events.map((e) => ({ s, e })))
          .filter(({ e }) => (startTime === undefined || e.timestamp >= startTime) && (endTime === undefined || e.timestamp <= endTime) && match(e.message))
          .sort((a, b) => a.e.timestamp - b.e.timestamp || a.e.seq - b.e.seq);
        const start = readPageToken('fe', p.optStr('nextToken'));
        const limit = limitOf(p, 10000, 10000);
        const page = all.slice(start, start + limit);
        return {
          events: page.map(({ s, e }) => ({ logStreamName: s.name, timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime, eventId: eventId(e) })),
          searchedLogStreams: streams.map((s) => ({ logStreamName: s.name, searchedCompletely: true })),
          nextToken: start + page.length < all.length ? pageToken('fe', start + page.length) : undefined,
        };
      },
    },
  };
}
