import { describe, expect, it } from 'vitest';
import { choiceHeadline, networkShort, runtimeShort } from './choice.ts';
import { formatSummary, type ScenarioReport } from './report.ts';

describe('the runtime and network choice, in the first line', () => {
  it('names the runtime and why in a few words', () => {
    expect(runtimeShort('process', 'process (default: the embedded runtime, tasks are child processes; --runtime docker|auto for linux/arm64 containers)')).toBe('process (default)');
    expect(runtimeShort('process', 'process (asked for): the embedded runtime, tasks are child processes')).toBe('process (asked for)');
    expect(runtimeShort('process', 'process (auto: docker mode unavailable — no Docker engine answers (connect ENOENT))')).toBe('process (auto: docker mode unavailable)');
    expect(runtimeShort('docker', 'docker (auto: Docker engine 27.5 answers, …); tasks are linux/arm64 containers')).toBe('docker (auto)');
    expect(runtimeShort('process', 'injected')).toBe('process');
  });

  it('names the network and whether security groups are enforced', () => {
    expect(networkShort('netns', 'netns (auto: root, `ip netns` and nft work): one network namespace per task on bridge ehb1, security groups enforced by nftables')).toBe('netns (auto: security groups enforced)');
    expect(networkShort('loopback', 'loopback: not root (network namespaces and nftables need CAP_NET_ADMIN); security groups are NOT enforced')).toBe('loopback (not root: security groups NOT enforced)');
    expect(networkShort('loopback', 'loopback (asked for): tasks share the host network on 127.x addresses; security groups are NOT enforced')).toBe('loopback (asked for: security groups NOT enforced)');
    expect(networkShort('docker', 'docker: network eh-1 on 10.0.0.0/16, containers at their ENI addresses; security groups are NOT enforced (not root)')).toBe('docker network (security groups NOT enforced)');
    expect(networkShort('docker', 'docker: network eh-1 on 10.0.0.0/16, containers at their ENI addresses; security groups enforced in each container\'s namespace')).toBe('docker network (security groups enforced)');
  });

  it('the summary headline carries both', () => {
    const r: ScenarioReport = {
      scenario: 'deploy-all', runId: 'eh00000001', runDir: '/tmp/eh00000001', runtime: 'process',
      runtimeReason: 'process (default: the embedded runtime, tasks are child processes; --runtime docker|auto for linux/arm64 containers)',
      network: 'loopback', networkReason: 'loopback: not root (network namespaces and nftables need CAP_NET_ADMIN); security groups are NOT enforced',
      timeScale: 0.02, deployDir: '', awsCli: '', startedAt: '', durationMs: 1000, checks: [{ name: 'x', status: 'passed', ms: 1 }], warnings: [], notes: [], diagnoses: [],
    } as ScenarioReport;
    expect(formatSummary(r).split('\n')[1]).toMatch(/^ {3}runtime process \(default: the embedded runtime, tasks are child processes; --runtime docker\|auto for linux\/arm64 containers\); aws CLI /);
    expect(formatSummary(r).split('\n')[0]).toBe('── scenario deploy-all: PASSED (1.0 s, run eh00000001) · runtime process (default) · network loopback (not root: security groups NOT enforced)');
    expect(choiceHeadline('process', 'process (asked for): …', undefined, undefined)).toBe('runtime process (asked for)');
  });
});
