import fs from 'node:fs';
import path from 'node:path';
import type { TimelineEvent } from '../events.ts';
import { choiceHeadline } from './choice.ts';
import { REPORT_HTML, writeReportHtml } from '../report/html.ts';

export type CheckStatus = 'passed' | 'failed' | 'not-verified' | 'skipped';

/** One row of a scenario report: a check a user would care about, with what we saw. */
export interface CheckResult {
  name: string;
  status: CheckStatus;
  /** what was expected and what was observed, one line each where possible */
  expected?: string;
  observed?: string;
  detail?: string;
  ms: number;
  /** a failed check's cause, one line with its evidence (harness/report/diagnose.ts) */
  diagnosis?: string;
}

export interface ScenarioReport {
  scenario: string;
  runId: string;
  runDir: string;
  runtime: string;
  runtimeReason: string;
  /** the VPC fabric (netns | loopback | docker) and why */
  network?: string;
  networkReason?: string;
  timeScale: number;
  deployDir: string;
  awsCli: string;
  startedAt: string;
  durationMs: number;
  checks: CheckResult[];
  /** lines a person must read: false greens, unverified isolation, explained AWS differences */
  warnings: string[];
  notes: string[];
  /** one line per failed check and per failed script: the cause, with its evidence from the timeline */
  diagnoses: string[];
}

const ICON: Record<CheckStatus, string> = { passed: 'PASS', failed: 'FAIL', 'not-verified': 'NOT VERIFIED', skipped: 'SKIP' };

export function formatSummary(r: ScenarioReport): string {
  const lines: string[] = [];
  const failed = r.checks.filter((c) => c.status === 'failed').length;
  // a scenario whose setup failed records no checks: that is not a pass
  const verdict = failed ? 'FAILED' : r.checks.length === 0 ? 'INCOMPLETE (no check ran; see the test output)' : 'PASSED';
  lines.push(`── scenario ${r.scenario}: ${verdict} (${(r.durationMs / 1000).toFixed(1)} s, run ${r.runId}) · ${choiceHeadline(r.runtime, r.runtimeReason, r.network, r.networkReason)}`);
  lines.push(`   runtime ${r.runtimeReason.startsWith(`${r.runtime} `) ? r.runtimeReason : `${r.runtime} (${r.runtimeReason})`}; aws CLI ${r.awsCli}; time scale ${r.timeScale}; deploy dir ${r.deployDir}`);
  for (const c of r.checks) {
    lines.push(`   ${ICON[c.status].padEnd(12)} ${c.name}`);
    if (c.status !== 'passed' || c.observed) {
      if (c.expected) lines.push(`                expected: ${c.expected}`);
      if (c.observed) lines.push(`                observed: ${c.observed}`);
      if (c.detail) for (const d of c.detail.split('\n')) lines.push(`                ${d}`);
    }
    if (c.status === 'failed' && c.diagnosis) lines.push(`                cause: ${c.diagnosis}`);
  }
  // causes no failed check carries (a failed script's, when its check passed or none ran)
  const shown = new Set(r.checks.map((c) => c.diagnosis));
  for (const d of r.diagnoses ?? []) if (!shown.has(d)) lines.push(`   cause:       ${d}`);
  for (const w of r.warnings) lines.push(`   WARNING      ${w}`);
  for (const n of r.notes) lines.push(`   note         ${n}`);
  lines.push(`   report: ${path.join(r.runDir, 'junit.xml')}, ${path.join(r.runDir, 'timeline.json')}`);
  lines.push(`   open: ${path.join(r.runDir, REPORT_HTML)}`);
  return lines.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function toJunit(r: ScenarioReport): string {
  const failures = r.checks.filter((c) => c.status === 'failed').length;
  const skipped = r.checks.filter((c) => c.status === 'skipped' || c.status === 'not-verified').length;
  const cases = r.checks
    .map((c) => {
      const body = [c.expected && `expected: ${c.expected}`, c.observed && `observed: ${c.observed}`, c.detail, c.diagnosis && `cause: ${c.diagnosis}`].filter(Boolean).join('\n');
      const inner =
        c.status === 'failed'
          ? `<failure message="${esc(c.observed ?? c.name)}">${esc(body)}</failure>`
          : c.status === 'skipped' || c.status === 'not-verified'
            ? `<skipped message="${esc(c.status === 'not-verified' ? `not verified: ${c.detail ?? ''}` : c.detail ?? 'skipped')}"/>`
            : body
              ? `<system-out>${esc(body)}</system-out>`
              : '';
      return `    <testcase classname="scenario.${esc(r.scenario)}" name="${esc(c.name)}" time="${(c.ms / 1000).toFixed(3)}">${inner}</testcase>`;
    })
    .join('\n');
  const props = [
    ['runId', r.runId],
    ['runtime', r.runtime],
    ['awsCli', r.awsCli],
    ['timeScale', String(r.timeScale)],
    ...r.warnings.map((w, i) => [`warning.${i}`, w]),
  ]
    .map(([k, v]) => `      <property name="${esc(k!)}" value="${esc(v!)}"/>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="escher-harness" tests="${r.checks.length}" failures="${failures}" skipped="${skipped}" time="${(r.durationMs / 1000).toFixed(3)}">
  <testsuite name="${esc(r.scenario)}" tests="${r.checks.length}" failures="${failures}" skipped="${skipped}" time="${(r.durationMs / 1000).toFixed(3)}" timestamp="${r.startedAt}">
    <properties>
${props}
    </properties>
${cases}
  </testsuite>
</testsuites>
`;
}

export function writeReport(r: ScenarioReport, timeline: readonly TimelineEvent[]): void {
  fs.mkdirSync(r.runDir, { recursive: true });
  fs.writeFileSync(path.join(r.runDir, 'junit.xml'), toJunit(r));
  fs.writeFileSync(path.join(r.runDir, 'timeline.json'), JSON.stringify(timeline, null, 1));
  fs.writeFileSync(path.join(r.runDir, 'report.json'), JSON.stringify(r, null, 2));
  fs.writeFileSync(path.join(r.runDir, 'summary.txt'), formatSummary(r) + '\n');
  writeReportHtml(r.runDir, timeline, r);
}

// ------------------------------------------------------------------ repeated runs

/**
 * A report's outcome with what varies from run to run taken out: one line per check,
 * "name | status | observed", IPv4 addresses as <ip> (placement and the "internet" address
 * depend on the run id) and measured durations ("1002.4 ms", "0 ms after") as <t>.
 * Two runs whose matrices are equal told the user the same thing.
 */
export function outcomeMatrix(r: ScenarioReport): string[] {
  const norm = (s: string) =>
    s
      .replace(/\b\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?\b/g, '<ip>')
      .replace(/\b\d+(?:\.\d+)?\s?(?:ms|s)\b/g, '<t>')
      .replace(/\bsg-[0-9a-f]+\b/g, '<sg>');
  return r.checks.map((c) => `${norm(c.name)} | ${c.status} | ${norm(c.observed ?? '')}`);
}

export interface RepeatVerdict {
  scenario: string;
  runs: number;
  /** every run passed and every matrix equals the first */
  deterministic: boolean;
  failedRuns: string[];
  /** per differing run: its run id and the lines that differ from the first run's matrix */
  differences: { runId: string; onlyFirst: string[]; onlyThis: string[] }[];
  checks: number;
}

/** Compares the outcome matrices of repeated runs of one scenario against the first run. */
export function compareRepeats(reports: ScenarioReport[]): RepeatVerdict {
  const first = reports[0];
  if (!first) throw new Error('no report to compare');
  const base = outcomeMatrix(first);
  const differences: RepeatVerdict['differences'] = [];
  for (const r of reports.slice(1)) {
    const m = outcomeMatrix(r);
    const a = new Set(base);
    const b = new Set(m);
    const onlyFirst = base.filter((l) => !b.has(l));
    const onlyThis = m.filter((l) => !a.has(l));
    if (onlyFirst.length || onlyThis.length) differences.push({ runId: r.runId, onlyFirst, onlyThis });
  }
  const failedRuns = reports.filter((r) => r.checks.length === 0 || r.checks.some((c) => c.status === 'failed')).map((r) => r.runId);
  return { scenario: first.scenario, runs: reports.length, deterministic: differences.length === 0 && failedRuns.length === 0, failedRuns, differences, checks: base.length };
}

export function formatRepeatVerdict(v: RepeatVerdict): string {
  const lines = [
    `── repeat ${v.scenario}: ${v.runs} runs, ${v.deterministic ? `the same outcome every time (${v.checks} checks, all passed)` : 'NOT the same outcome every time'}`,
  ];
  if (v.failedRuns.length) lines.push(`   failed runs: ${v.failedRuns.join(', ')}`);
  for (const d of v.differences) {
    lines.push(`   run ${d.runId} differs from the first run:`);
    for (const l of d.onlyFirst) lines.push(`     - ${l}`);
    for (const l of d.onlyThis) lines.push(`     + ${l}`);
  }
  return lines.join('\n');
}
