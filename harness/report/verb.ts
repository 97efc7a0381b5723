/**
 * `harness report [run-id]`: prints the path of a run's report.html (the newest run's by
 * default) and opens it with xdg-open where a desktop exists (DISPLAY or WAYLAND_DISPLAY).
 * A run whose report.html is missing (a run from before it existed, or one killed before its
 * teardown) gets one rendered from its timeline.json and report.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TimelineEvent } from '../events.ts';
import type { ScenarioReport } from '../scenario/report.ts';
import { REPORT_HTML, writeReportHtml } from './html.ts';

export interface ReportVerbOptions {
  /** `.harness/` (default: under the current directory) */
  home?: string;
  env?: NodeJS.ProcessEnv;
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** opens a file on the desktop (default: xdg-open, detached) */
  open?: (file: string) => void;
}

const ARTIFACTS = [REPORT_HTML, 'report.json', 'timeline.json'];

/** Run dirs that have something to show, newest first. */
export function listRuns(runsDir: string): string[] {
  if (!fs.existsSync(runsDir)) return [];
  const stamp = (dir: string) => Math.max(0, ...ARTIFACTS.map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f)).map((f) => fs.statSync(f).mtimeMs));
  return fs
    .readdirSync(runsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(runsDir, e.name))
    .map((dir) => ({ dir, t: stamp(dir) }))
    .filter((x) => x.t > 0)
    .sort((a, b) => b.t - a.t)
    .map((x) => x.dir);
}

export async function reportVerb(args: string[], opts: ReportVerbOptions = {}): Promise<number> {
  const out = opts.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const err = opts.err ?? ((l: string) => process.stderr.write(l + '\n'));
  const env = opts.env ?? process.env;
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'no-open': { type: 'boolean' } } });
  const runsDir = path.join(opts.home ?? path.join(process.cwd(), '.harness'), 'runs');
  const runs = listRuns(runsDir);
  const want = positionals[0];
  let dir: string | undefined;
  if (!want) {
    dir = runs[0];
    if (!dir) {
      err(`harness report: no run under ${runsDir} yet (npm run scenario <name> writes one)`);
      return 1;
    }
  } else if (want.includes('/') && fs.existsSync(want)) {
    dir = path.resolve(want);
  } else {
    const hits = fs.existsSync(path.join(runsDir, want)) ? [path.join(runsDir, want)] : runs.filter((d) => path.basename(d).startsWith(want));
    if (hits.length !== 1) {
      err(`harness report: ${hits.length ? `'${want}' names ${hits.length} runs` : `no run '${want}' under ${runsDir}`} (newest: ${runs.slice(0, 5).map((d) => path.basename(d)).join(', ') || 'none'})`);
      return 1;
    }
    dir = hits[0]!;
  }
  const file = path.join(dir, REPORT_HTML);
  if (!fs.existsSync(file)) {
    const timeline = readJson<TimelineEvent[]>(path.join(dir, 'timeline.json'));
    if (!timeline) {
      err(`harness report: run ${path.basename(dir)} has no report.html and no timeline.json yet (a \`harness up\` run writes them at \`harness down\`)`);
      return 1;
    }
    writeReportHtml(dir, timeline, readJson<ScenarioReport>(path.join(dir, 'report.json')));
  }
  out(file);
  if (!values['no-open'] && (env.DISPLAY || env.WAYLAND_DISPLAY)) (opts.open ?? openOnDesktop)(file);
  return 0;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function openOnDesktop(file: string): void {
  if (spawnSync('sh', ['-c', 'command -v xdg-open'], { stdio: 'ignore' }).status !== 0) return;
  const child = spawn('xdg-open', [file], { detached: true, stdio: 'ignore' });
  child.on('error', () => {});
  child.unref();
}
