import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSummary, writeReport } from '../scenario/report.ts';
import { REPORT_HTML, renderReportHtml, writeReportHtml } from './html.ts';
import { collectTaskLogs, MAX_LINES, readTaskLogs, REDACTED, secretValues } from './logs.ts';
import { buildDns, buildModel, buildProbeGrid } from './model.ts';
import { failingRun, passingRun, SERVICES } from './testing.ts';
import { listRuns, reportVerb } from './verb.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'eh-report-'));

describe('report model', () => {
  it('a failing release: lanes per service, the rollback, failed tasks, the evidence of the failed check', () => {
    const m = buildModel(failingRun());
    expect(m.verdict).toBe('FAILED');
    expect(m.counts).toMatchObject({ passed: 8, failed: 2, 'not-verified': 0, total: 10 });
    expect(m.services.map((s) => s.name)).toEqual(SERVICES.map((s) => s.name));
    const web = m.services.find((s) => s.name === 'acme-web')!;
    expect(web.cloudMapName).toBe('web');
    expect(web.rollbacks).toEqual([expect.objectContaining({ revision: 'acme-web:1', fromRevision: 'acme-web:2' })]);
    const [v1, v2] = web.deployments;
    // v1: PRIMARY, ACTIVE while v2 rolled out, PRIMARY again after the rollback, COMPLETED
    expect(v1!.spans.map((s) => `${s.state.status}/${s.state.rollout}`)).toEqual(['PRIMARY/IN_PROGRESS', 'PRIMARY/COMPLETED', 'ACTIVE/COMPLETED', 'PRIMARY/IN_PROGRESS', 'PRIMARY/COMPLETED']);
    expect(v2!.spans.map((s) => `${s.state.status}/${s.state.rollout}`)).toEqual(['PRIMARY/IN_PROGRESS', 'PRIMARY/FAILED', 'ACTIVE/FAILED']);
    expect(v2!.endedAt).toBeDefined();
    expect(v2!.failedTasks).toBe(3);
    const failed = web.tasks.filter((t) => t.failed);
    expect(failed).toHaveLength(3);
    for (const t of failed) {
      expect(t.stoppedReason).toBe('Task failed container health checks');
      expect(t.health.map((h) => h.state)).toEqual(['UNHEALTHY']);
      expect(t.spans.map((s) => s.state)).toEqual(['PROVISIONING', 'PENDING', 'ACTIVATING', 'RUNNING', 'DEACTIVATING', 'STOPPING', 'DEPROVISIONING']);
    }
    // teardown (harness.down) is not part of the story: the healthy tasks still run at the end
    expect(web.tasks.filter((t) => !t.failed).every((t) => t.stoppedAt === undefined)).toBe(true);

    expect(m.scripts.map((s) => `${s.script} ${s.args.join(' ')} ${s.exitCode}`)).toEqual(['deploy-all.sh v2.0.0 0', 'deploy.sh web v2.1.0 0']);
    expect(m.scripts[0]!.calls.some((c) => c.status === 400 && c.error === 'TargetGroupNotFound')).toBe(true);
    expect(m.falseGreens).toHaveLength(1);

    const f = m.failures.find((x) => x.check.name.startsWith('acme-web: PRIMARY'))!;
    expect(f.diagnosis).toMatch(/fail their health check/);
    expect(f.services).toEqual(['acme-web']);
    expect(f.serviceEvents.some((e) => /rolling back/.test(e.message))).toBe(true);
    expect(f.logs).toHaveLength(3);
    expect(f.logs[0]!.lines.some((l) => /ORDERS_TOKEN is not set/.test(l.m))).toBe(true);
    // a probe's failure is shown in the grid, not with task logs
    const p = m.failures.find((x) => x.check.name.startsWith('probe '))!;
    expect(p.logs).toEqual([]);
  });

  it('the probe grid: sources × targets, the mismatch marked, not-verified read from the detail', () => {
    const g = buildProbeGrid(failingRun().report!.checks)!;
    expect(g.sources.map((s) => s.split(' ')[0])).toEqual(['acme-catalog', 'acme-orders', 'acme-web', 'internet']);
    // a service's port in the order of the rows
    expect(g.targets).toEqual(['acme-catalog:7000', 'acme-orders:7100', 'acme-web:8080']);
    const bad = g.cells.filter((c) => c.outcome === 'mismatch');
    expect(bad).toEqual([expect.objectContaining({ target: 'acme-catalog:7000', expected: 'blocked', observed: 'open' })]);
    const nv = buildProbeGrid([{ name: 'probe a 10.0.0.1 → b:80', status: 'not-verified', detail: 'loopback mode: nothing enforces security groups here (the rules say blocked: no rule)', ms: 0 }])!;
    expect(nv.cells[0]).toMatchObject({ outcome: 'not-verified', expected: 'blocked' });
    expect(buildProbeGrid(passingRun().report!.checks.filter((c) => !c.name.startsWith('probe')))).toBeUndefined();
  });

  it('DNS answers from Cloud Map registrations: the instances not UNHEALTHY, all of them when none is healthy', () => {
    const ev = (seq: number, type: string, f: Record<string, unknown>) => ({ t: 1000 + seq * 100, seq, type, serviceId: 'srv-1', ...f });
    const rows = buildDns([
      ev(0, 'servicediscovery.instance.registered', { service: 'api', namespace: 'corp.local', instanceId: 'a', ipv4: '10.0.0.5', health: 'UNHEALTHY' }),
      ev(1, 'servicediscovery.instance.registered', { service: 'api', namespace: 'corp.local', instanceId: 'b', ipv4: '10.0.0.6', health: 'UNHEALTHY' }),
      ev(2, 'servicediscovery.instance.health', { instanceId: 'b', health: 'HEALTHY' }),
      ev(3, 'servicediscovery.instance.deregistered', { instanceId: 'b' }),
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.name).toBe('api.corp.local');
    expect(rows[0]!.rows.map((r) => r.addresses.join(','))).toEqual(['10.0.0.5', '10.0.0.5,10.0.0.6', '10.0.0.6', '10.0.0.5']);
    expect(rows[0]!.rows[2]).toMatchObject({ removed: ['10.0.0.5'], added: [] });
    // answers a scenario recorded itself win over the derived ones
    const rec = buildDns([{ t: 1, seq: 0, type: 'dns.answer', name: 'x.corp.local', addresses: ['10.0.0.9'] }]);
    expect(rec).toEqual([expect.objectContaining({ name: 'x.corp.local', source: 'recorded' })]);
    expect(buildDns([])).toEqual([]);
  });

  it('a rollback that starts a new deployment (as ECS does) draws the same way', () => {
    const run = failingRun();
    const rb = run.timeline.find((e) => e.type === 'ecs.deployment.rollback')!;
    const tl = run.timeline.map((e) => (e.type === 'ecs.deployment' && e.deployment === rb.to && e.seq > rb.seq ? { ...e, deployment: 'ecs-svc/300000000000000003' } : e));
    const web = buildModel({ ...run, timeline: tl }).services.find((s) => s.name === 'acme-web')!;
    expect(web.deployments.map((d) => d.revision)).toEqual(['acme-web:1', 'acme-web:2', 'acme-web:1']);
    expect(web.deployments[2]!.spans[0]!.state.status).toBe('PRIMARY');
    expect(web.deployments[0]!.spans.at(-1)!.state.status).toBe('ACTIVE');
  });
});

describe('report.html', () => {
  it('is self-contained: nothing to fetch, no external reference', () => {
    const html = renderReportHtml(failingRun());
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'/);
    expect(html).not.toMatch(/<link\b|<img\b|<iframe\b|\bsrc=|@import|url\((?!data:)/i);
    expect(html).not.toMatch(/href="(?!#)/);
    expect(html).toContain('<svg class="timeline"');
  });

  it('escapes what it shows', () => {
    const run = passingRun();
    run.report!.checks.push({ name: '<script>alert(1)</script>', status: 'failed', observed: '"><img src=x>', ms: 1 });
    const html = renderReportHtml(run);
    expect(html).not.toContain('<script>alert(1)');
    expect(html).not.toContain('<img src=x>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('renders a `harness up` run (no report) and a run with an empty timeline', () => {
    const run = passingRun();
    const up = renderReportHtml({ ...run, report: undefined });
    expect(up).toContain('harness up');
    expect(up).toContain('data-lane="acme-web"');
    expect(renderReportHtml({ runId: 'eh00000000', runDir: '/tmp/x', timeline: [] })).toContain('no ECS service in this run');
  });

  it('one chart per script run; scripts side by side share one; a crash loop packs its failed tasks into few rows', () => {
    const run = failingRun();
    expect(renderReportHtml(run).match(/data-window="/g)).toHaveLength(2);
    const start = run.timeline.find((e) => e.type === 'script.start')!;
    const side = { ...start, seq: start.seq, t: start.t + 500, script: 'seed.sh', args: [] };
    const end = { ...side, type: 'script.end', t: start.t + 900, exitCode: 3, durationMs: 400 };
    const both = renderReportHtml({ ...run, timeline: [...run.timeline, { ...side, seq: start.seq + 0.1 }, { ...end, seq: start.seq + 0.2 }] });
    expect(both.match(/data-window="/g)).toHaveLength(2);
    expect(both).toContain('1. 2 scripts side by side, 1 failed');

    const loop = { ...run, timeline: [...run.timeline] };
    const last = loop.timeline.at(-1)!;
    for (let i = 0; i < 12; i++) {
      const base = { cluster: 'acme-prod', service: 'acme-orders', taskId: `dead${String(i).padStart(4, '0')}beef0000000000000000000000` };
      const t = last.t - 20_000 + i * 1500;
      loop.timeline.push({ t, seq: 1 + i * 0.01, type: 'ecs.task.state', ...base, lastStatus: 'PROVISIONING', taskDefinition: 'arn:aws:ecs:us-east-1:000000000000:task-definition/acme-orders:1' });
      loop.timeline.push({ t: t + 300, seq: 1.005 + i * 0.01, type: 'ecs.task.state', ...base, lastStatus: 'STOPPED', stoppedReason: 'Essential container in task exited' });
    }
    const html = renderReportHtml(loop);
    expect(html.match(/<g class="task failed"/g)!.length).toBe(15);
    expect(html).toMatch(/\d+ failed tasks <tspan/);
  });

  it('a long run stays bounded: 150 000 API calls make one tick per pixel, the calls table stops at 400 rows', () => {
    const run = passingRun();
    const start = run.timeline.find((e) => e.type === 'script.start')!;
    const calls = Array.from({ length: 150_000 }, (_, i) => ({ t: start.t + 1 + (i % 15_000), seq: start.seq + (i + 1) / 1e6, type: 'api.call', service: 'ecs', operation: 'DescribeServices', status: 200, input: {} }));
    const t0 = performance.now();
    const html = renderReportHtml({ ...run, timeline: [...run.timeline, ...calls] });
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(html.length).toBeLessThan(3_000_000);
    expect(html).toContain('… 149');
  });

  it('writeReport writes report.html beside junit.xml, and the summary ends with its path', () => {
    const dir = tmp();
    const run = failingRun(dir);
    fs.writeFileSync(path.join(dir, 'logs.json'), JSON.stringify(run.logs));
    writeReport({ ...run.report!, runDir: dir }, run.timeline);
    for (const f of ['junit.xml', 'timeline.json', 'report.json', REPORT_HTML]) expect(fs.existsSync(path.join(dir, f)), f).toBe(true);
    const html = fs.readFileSync(path.join(dir, REPORT_HTML), 'utf8');
    expect(html).toContain('ORDERS_TOKEN is not set'); // the task log lines, from logs.json
    expect(formatSummary({ ...run.report!, runDir: dir }).split('\n').at(-1)).toBe(`   open: ${path.join(dir, REPORT_HTML)}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a renderer failure still leaves a report.html that says so', () => {
    const dir = tmp();
    const file = writeReportHtml(dir, [{ t: 1, seq: 0, type: 'ecs.deployment', service: 'x', deployment: 7 } as never]);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/report.html could not be rendered|<svg/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('logs.json', () => {
  const secrets = { listSecrets: () => [{ versions: [{ secretString: 'hunter2-very-secret' }, { secretString: JSON.stringify({ username: 'root', password: 'pa55-w0rd-xyz' }) }] }] } as never;

  it('keeps the newest lines of each stream, without secret values', () => {
    const events = Array.from({ length: MAX_LINES + 50 }, (_, i) => ({ timestamp: 1000 + i, message: `line ${i}`, ingestionTime: 0, seq: i }));
    events.push({ timestamp: 9999, message: 'token=hunter2-very-secret db=pa55-w0rd-xyz', ingestionTime: 0, seq: 999 });
    events.push({ timestamp: 10000, message: 'x'.repeat(2000), ingestionTime: 0, seq: 1000 });
    const logs = { listLogGroups: () => [{ name: '/ecs/api', streams: new Map([['ecs/api/abc123', { name: 'ecs/api/abc123', creationTime: 0, events }]]) }] } as never;
    expect(secretValues(secrets)).toEqual(expect.arrayContaining(['hunter2-very-secret', 'pa55-w0rd-xyz']));
    expect(secretValues(secrets)).not.toContain('root');
    const out = collectTaskLogs(logs, secretValues(secrets));
    const s = out.streams[0]!;
    expect(s).toMatchObject({ group: '/ecs/api', taskId: 'abc123', container: 'api', total: MAX_LINES + 52 });
    expect(s.lines).toHaveLength(MAX_LINES);
    expect(s.lines.at(-2)!.m).toBe(`token=${REDACTED} db=${REDACTED}`);
    expect(s.lines.at(-1)!.m.length).toBeLessThan(500);
    expect(JSON.stringify(out)).not.toMatch(/hunter2|pa55/);
  });

  it('keeps the end of each script log, redacted; readTaskLogs tolerates a missing file', () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'scripts'));
    fs.writeFileSync(path.join(dir, 'scripts', '01-deploy_sh-web_v2_1_0.log'), Array.from({ length: 300 }, (_, i) => `step ${i}`).join('\n') + '\nsecret hunter2-very-secret\n');
    const out = collectTaskLogs({ listLogGroups: () => [] } as never, secretValues(secrets), path.join(dir, 'scripts'));
    expect(out.scripts[0]).toMatchObject({ file: '01-deploy_sh-web_v2_1_0.log', total: 301 });
    expect(out.scripts[0]!.lines.at(-1)).toBe(`secret ${REDACTED}`);
    expect(readTaskLogs(dir)).toBeUndefined();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('harness report', () => {
  function home(): string {
    const h = tmp();
    const older = path.join(h, 'runs', 'eh00000001');
    const newer = path.join(h, 'runs', 'eh00000002');
    for (const [dir, run] of [
      [older, passingRun(older)],
      [newer, failingRun(newer)],
    ] as const) {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'timeline.json'), JSON.stringify(run.timeline));
      fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(run.report));
    }
    fs.utimesSync(path.join(older, 'report.json'), new Date(1000), new Date(1000));
    fs.utimesSync(path.join(older, 'timeline.json'), new Date(1000), new Date(1000));
    fs.mkdirSync(path.join(h, 'runs', 'eh00000003')); // still starting: nothing to show
    return h;
  }

  it('prints the newest run’s report.html (rendering it from the timeline when missing); opens it only on a desktop', async () => {
    const h = home();
    expect(listRuns(path.join(h, 'runs')).map((d) => path.basename(d))).toEqual(['eh00000002', 'eh00000001']);
    const out: string[] = [];
    const opened: string[] = [];
    expect(await reportVerb([], { home: h, env: {}, out: (l) => out.push(l), open: (f) => opened.push(f) })).toBe(0);
    const file = path.join(h, 'runs', 'eh00000002', REPORT_HTML);
    expect(out).toEqual([file]);
    expect(fs.readFileSync(file, 'utf8')).toContain('FAILED');
    expect(opened).toEqual([]);
    expect(await reportVerb(['eh00000001'], { home: h, env: { DISPLAY: ':0' }, out: (l) => out.push(l), open: (f) => opened.push(f) })).toBe(0);
    expect(opened).toEqual([path.join(h, 'runs', 'eh00000001', REPORT_HTML)]);
    expect(await reportVerb(['eh00000001', '--no-open'], { home: h, env: { WAYLAND_DISPLAY: 'wayland-0' }, out: () => {}, open: (f) => opened.push(f) })).toBe(0);
    expect(opened).toHaveLength(1);
    fs.rmSync(h, { recursive: true, force: true });
  });

  it('says which runs exist when the id names none, and when a run has nothing yet', async () => {
    const h = home();
    const err: string[] = [];
    expect(await reportVerb(['eh99'], { home: h, env: {}, out: () => {}, err: (l) => err.push(l) })).toBe(1);
    expect(err.join('\n')).toMatch(/no run 'eh99'.*newest: eh00000002, eh00000001/);
    expect(await reportVerb(['eh00000003'], { home: h, env: {}, out: () => {}, err: (l) => err.push(l) })).toBe(1);
    expect(err.at(-1)).toMatch(/no report.html and no timeline.json yet/);
    expect(await reportVerb([], { home: tmp(), env: {}, out: () => {}, err: (l) => err.push(l) })).toBe(1);
    fs.rmSync(h, { recursive: true, force: true });
  });
});
