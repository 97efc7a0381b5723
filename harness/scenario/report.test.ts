import { describe, expect, it } from 'vitest';
import { compareRepeats, formatRepeatVerdict, outcomeMatrix, type ScenarioReport } from './report.ts';

function report(runId: string, checks: ScenarioReport['checks']): ScenarioReport {
  return { scenario: 'isolation', runId, runDir: `/tmp/${runId}`, runtime: 'process', runtimeReason: '', timeScale: 0.02, deployDir: '', awsCli: '', startedAt: '', durationMs: 1, checks, warnings: [], notes: [], diagnoses: [] };
}
const probe = (ip: string, observed: string, status: 'passed' | 'failed' = 'passed') => ({
  name: `probe asset-store ${ip} → context-engine:8001`,
  status,
  expected: 'blocked',
  observed,
  detail: `no egress rule of sg-0abc admits ${ip}`,
  ms: 0,
});

describe('repeated runs', () => {
  it('treats addresses and timings as noise, and outcomes as signal', () => {
    expect(outcomeMatrix(report('a', [probe('10.0.1.11', 'blocked (1002.4 ms)')]))).toEqual(['probe asset-store <ip> → context-engine:8001 | passed | blocked (<t>)']);
    const same = compareRepeats([report('a', [probe('10.0.1.11', 'blocked (1002.4 ms)')]), report('b', [probe('10.0.1.12', 'blocked (1001.9 ms)')])]);
    expect(same).toMatchObject({ runs: 2, deterministic: true, differences: [], failedRuns: [] });
    expect(formatRepeatVerdict(same)).toContain('2 runs, the same outcome every time (1 checks, all passed)');
  });

  it('names the run and the lines that differ when a probe flips', () => {
    const v = compareRepeats([report('a', [probe('10.0.1.11', 'blocked (1002.4 ms)')]), report('b', [probe('10.0.1.11', 'open (2.1 ms)', 'failed')])]);
    expect(v.deterministic).toBe(false);
    expect(v.failedRuns).toEqual(['b']);
    expect(v.differences).toEqual([
      { runId: 'b', onlyFirst: ['probe asset-store <ip> → context-engine:8001 | passed | blocked (<t>)'], onlyThis: ['probe asset-store <ip> → context-engine:8001 | failed | open (<t>)'] },
    ]);
    expect(formatRepeatVerdict(v)).toMatch(/NOT the same outcome[\s\S]*run b differs[\s\S]*\+ probe asset-store <ip> → context-engine:8001 \| failed \| open/);
  });

  it('a run with no checks is a failed run, not a match', () => {
    const v = compareRepeats([report('a', []), report('b', [])]);
    expect(v).toMatchObject({ deterministic: false, failedRuns: ['a', 'b'] });
  });
});
