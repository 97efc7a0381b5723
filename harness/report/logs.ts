/**
 * logs.json: what report.html shows of the run's logs, bounded and without secret values.
 * The CloudWatch log events the tasks wrote (the awslogs driver's streams) are not in the
 * timeline; at teardown the newest MAX_LINES of each task stream, and of each script's log,
 * are kept here, every secret value the run's Secrets Manager holds replaced.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LogsStore } from '../aws/logs/store.ts';
import type { SecretsManagerStore } from '../aws/secretsmanager/store.ts';

export const LOGS_FILE = 'logs.json';
/** lines kept per stream (the newest) */
export const MAX_LINES = 200;
/** streams kept (the newest by last event) */
export const MAX_STREAMS = 200;
/** characters kept per line */
export const MAX_LINE_CHARS = 400;
export const REDACTED = '‹secret›';

export interface TaskLogStream {
  group: string;
  stream: string;
  /** the task id: the stream name's last part (awslogs: prefix/container/task-id) */
  taskId?: string;
  container?: string;
  /** lines the stream had; `lines` holds the newest MAX_LINES */
  total: number;
  lines: { t: number; m: string }[];
}

export interface ScriptLog {
  /** the file under scripts/ */
  file: string;
  total: number;
  lines: string[];
}

export interface TaskLogs {
  version: 1;
  maxLinesPerStream: number;
  streams: TaskLogStream[];
  scripts: ScriptLog[];
}

/** Fields of a JSON secret that name things rather than hold the secret (masking "root" everywhere would hide more than it protects). */
const NOT_SECRET = /^(user(name)?|host(name)?|port|engine|db(name)?|database|namespace|ns|url|endpoint|region|dbInstanceIdentifier)$/i;

/** Every value a secret holds (whole, and each string field of a JSON secret), longest first. */
export function secretValues(store: Pick<SecretsManagerStore, 'listSecrets'>): string[] {
  const out = new Set<string>();
  for (const s of store.listSecrets({ includePlannedDeletion: true })) {
    for (const v of s.versions) {
      for (const raw of [v.secretString, v.secretBinary]) {
        if (!raw) continue;
        out.add(raw);
        try {
          const j = JSON.parse(raw) as unknown;
          if (j && typeof j === 'object') {
            for (const [k, x] of Object.entries(j)) if ((typeof x === 'string' || typeof x === 'number') && !NOT_SECRET.test(k)) out.add(String(x));
          }
        } catch {
          /* not JSON */
        }
      }
    }
  }
  // very short values ("1", "true") would blank out ordinary text; they are not secrets anyone would leak
  return [...out].filter((x) => x.length >= 4).sort((a, b) => b.length - a.length);
}

export function redactor(secrets: string[]): (line: string) => string {
  return (line) => {
    let out = line;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out.length > MAX_LINE_CHARS ? `${out.slice(0, MAX_LINE_CHARS)}… (${out.length - MAX_LINE_CHARS} more characters)` : out;
  };
}

export function collectTaskLogs(logs: Pick<LogsStore, 'listLogGroups'>, secrets: string[], scriptsDir?: string): TaskLogs {
  const redact = redactor(secrets);
  const streams: (TaskLogStream & { last: number })[] = [];
  for (const g of logs.listLogGroups()) {
    for (const s of g.streams.values()) {
      const parts = s.name.split('/');
      const lines = s.events.slice(-MAX_LINES).map((e) => ({ t: e.timestamp, m: redact(e.message) }));
      streams.push({
        group: g.name,
        stream: s.name,
        taskId: parts.at(-1),
        ...(parts.length >= 3 ? { container: parts.at(-2) } : {}),
        total: s.events.length,
        lines,
        last: s.events.at(-1)?.timestamp ?? s.creationTime,
      });
    }
  }
  const kept = streams
    .sort((a, b) => b.last - a.last)
    .slice(0, MAX_STREAMS)
    .sort((a, b) => a.group.localeCompare(b.group) || a.stream.localeCompare(b.stream))
    .map(({ last: _, ...s }) => s);
  const scripts: ScriptLog[] = [];
  if (scriptsDir && fs.existsSync(scriptsDir)) {
    for (const f of fs.readdirSync(scriptsDir).filter((x) => x.endsWith('.log')).sort()) {
      const all = fs.readFileSync(path.join(scriptsDir, f), 'utf8').split('\n');
      if (all.at(-1) === '') all.pop();
      scripts.push({ file: f, total: all.length, lines: all.slice(-MAX_LINES).map(redact) });
    }
  }
  return { version: 1, maxLinesPerStream: MAX_LINES, streams: kept, scripts };
}

/** Writes logs.json into the run dir; never throws (a report must not fail a teardown). */
export function writeTaskLogs(runDir: string, stores: { logs: Pick<LogsStore, 'listLogGroups'>; secrets: Pick<SecretsManagerStore, 'listSecrets'> }): void {
  try {
    const data = collectTaskLogs(stores.logs, secretValues(stores.secrets), path.join(runDir, 'scripts'));
    fs.writeFileSync(path.join(runDir, LOGS_FILE), JSON.stringify(data));
  } catch (e) {
    process.stderr.write(`harness: could not write ${path.join(runDir, LOGS_FILE)}: ${(e as Error).message}\n`);
  }
}

export function readTaskLogs(runDir: string): TaskLogs | undefined {
  try {
    const j = JSON.parse(fs.readFileSync(path.join(runDir, LOGS_FILE), 'utf8')) as TaskLogs;
    return j && Array.isArray(j.streams) ? { ...j, scripts: j.scripts ?? [] } : undefined;
  } catch {
    return undefined;
  }
}

/** A script's log among logs.json's, by the name Scenario.runScript gives it (NN-script-args.log). */
export function scriptLogFor(logs: TaskLogs | undefined, index: number, script: string, args: string[]): ScriptLog | undefined {
  if (!logs) return undefined;
  const stem = `${script.replace(/\W+/g, '_')}-${args.join('_').replace(/\W+/g, '_')}.log`;
  return logs.scripts.find((s) => s.file === `${String(index + 1).padStart(2, '0')}-${stem}`) ?? logs.scripts.find((s) => s.file.endsWith(`-${stem}`));
}
