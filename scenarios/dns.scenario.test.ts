import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '@aws-sdk/client-ecs';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import { taskIdOf } from '../harness/aws/ecs/store.ts';
import type { NetnsFabric } from '../harness/network/netns-fabric.ts';
import { answerNow, resolveOverWire } from '../harness/network/probe-dns.ts';
import { resolveProbe } from '../harness/network/probe.ts';
import type { DeployedService, Deployment } from '../harness/scenario/deployment.ts';

/**
 * Cloud Map names as tasks see them: after deployAll with the oldest healthy release every
 * *_URL host resolves from inside a task; a name answers only running, healthy tasks; during a
 * rolling deploy (deployService with the newest release) of a service others depend on, both
 * the old and the new task answer, after the drain only the new; a stopped task's address is
 * gone within its TTL (the Cloud Map service's DnsConfig).
 */
let BASE: string;
let NEXT: string;
let d: Deployment;
/** the service rolled: one with a Cloud Map name that others depend on */
let ROLLED: DeployedService;

let s: Scenario;
let base: ScriptRun;
let rolled: ScriptRun;

interface Snapshot {
  t: number;
  event: string;
  addresses: string[];
  ttl?: number;
  /** ip → the task's state at that instant */
  tasks: { id: string; ip: string; lastStatus: string; desiredStatus: string; healthy: boolean }[];
}
const snapshots: Snapshot[] = [];
let before: { id: string; ip: string }[] = [];

const ipOf = (t: Task) => t.attachments?.[0]?.details?.find((d) => d.name === 'privateIPv4Address')?.value ?? '';
const fqdn = (m: DeployedService) => m.cloudMap!.fqdn;
/** the TTL of a service's A records, as its Cloud Map service says */
function ttlOf(m: DeployedService): number {
  const reg = s.service(m).service.serviceRegistries?.[0]?.registryArn;
  const rec = reg ? s.h.stores.serviceDiscovery.findServiceByArn(reg) : undefined;
  return rec?.dnsConfig?.DnsRecords?.find((r) => r.Type === 'A')?.TTL ?? 60;
}
/** a task whose containers run (ECS registers at ACTIVATING and deregisters at DEACTIVATING) */
const LIVE = new Set(['ACTIVATING', 'RUNNING', 'DEACTIVATING']);

function tasksOf(service: DeployedService): Snapshot['tasks'] {
  const st = s.service(service);
  const hasCheck = (x: Task) => x.containers?.length !== undefined && (service.taskDefinition.containerDefinitions ?? []).some((c) => c.healthCheck);
  return s.h.stores.ecs.tasksOfService(st).map((x) => ({
    id: taskIdOf(x.task.taskArn!),
    ip: ipOf(x.task),
    lastStatus: x.task.lastStatus ?? '',
    desiredStatus: x.task.desiredStatus ?? '',
    healthy: hasCheck(x.task) ? x.task.healthStatus === 'HEALTHY' : true,
  }));
}

function healthyRunningIps(service: DeployedService): string[] {
  return tasksOf(service)
    .filter((t) => t.lastStatus === 'RUNNING' && t.desiredStatus === 'RUNNING' && t.healthy)
    .map((t) => t.ip)
    .sort();
}

describe('scenario dns: Cloud Map names from inside the VPC', () => {
  beforeAll(async () => {
    s = await Scenario.start('dns');
    const good = s.releases().good;
    [BASE, NEXT] = [good[0]!, good.at(-1)!];
    base = await s.deployAll(BASE);
    d = s.deployment();
    const rolled = d.order.find((x) => x.cloudMap && d.services.some((o) => o !== x && d.dependsOn(o, x)));
    if (!rolled) throw new Error('no service with a Cloud Map name that another service depends on: nothing to roll');
    ROLLED = rolled;
    // the script's ServicesStable waiter counts RUNNING tasks, not healthy ones (as on AWS): the
    // last service's first health check can still be due (docker mode: seconds of QEMU start-up).
    // The checks below compare answers with the healthy tasks, so they start once every rollout
    // is COMPLETED (every task healthy), as ECS reports it.
    if (base.exitCode === 0) {
      await s.until('every rollout COMPLETED', () => d.services.every((m) => s.service(m).service.deployments?.[0]?.rolloutState === 'COMPLETED'), 120_000);
    }
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('deploy-all exits 0', async () => {
    await s.check(`${base.script} ${BASE} exits 0`, () => {
      expect(base.exitCode, base.output.split('\n').slice(-15).join('\n')).toBe(0);
      return { observed: `exit ${base.exitCode}` };
    });
  });

  it('every *_URL host of every task definition resolves from inside a task', async () => {
    const fabric = s.h.fabric as Partial<NetnsFabric>;
    const byFqdn = new Map(d.services.filter((m) => m.cloudMap).map((m) => [m.cloudMap!.fqdn, m]));
    for (const m of d.order) {
      const hosts = [...new Set(m.dependencies.map((x) => x.host))];
      if (hosts.length === 0) continue;
      const task = s.runningTasks(m)[0]!;
      const netns = fabric.netnsOfIp?.(task.ip);
      const answers = netns
        ? await resolveProbe({ netns }, hosts)
        : await Promise.all(hosts.map(async (name) => ({ name, ...(await resolveOverWire(s.h.dns, name)) })));
      for (const a of answers) {
        const target = byFqdn.get(a.name.toLowerCase());
        const where = netns ? `inside ${m.ecsService}'s task (${netns}, /etc/resolv.conf → the VPC resolver)` : `via the DNS server ${s.h.dns.host}:${s.h.dns.port} (loopback mode: no task namespace)`;
        if (!target && !a.addresses) {
          s.notVerified(`${m.ecsService}: ${a.name} resolves`, `nothing in this run serves ${a.name} (not a service the scripts created nor a manifest host; ${a.code ?? 'no answer'}) — asked ${where}`);
          continue;
        }
        await s.check(`${m.ecsService}: ${a.name} resolves ${netns ? 'inside its task' : 'through the DNS server'}`, () => {
          expect(a.addresses, `${a.name}: ${a.code}`).not.toBeNull();
          if (target) expect(a.addresses).toEqual(healthyRunningIps(target));
          return { expected: target ? healthyRunningIps(target).join(',') : 'an address', observed: `${a.addresses!.join(',')} (ttl ${a.ttl ?? '?'}) ${where}` };
        });
      }
    }
    if (!fabric.netnsOfIp) s.notVerified('resolution from inside a task namespace', 'loopback mode: tasks have no namespace or resolv.conf of their own (they resolve through a Node preload)');
  });

  it('a name resolves exactly to the running, healthy tasks of its service', async () => {
    for (const m of d.order.filter((x) => x.cloudMap)) {
      await s.check(`${fqdn(m)} = the healthy RUNNING tasks of ${m.ecsService}`, async () => {
        const wire = await resolveOverWire(s.h.dns, fqdn(m));
        expect(wire.addresses).toEqual(healthyRunningIps(m));
        const ttl = ttlOf(m);
        expect(wire.ttl).toBe(ttl);
        return { expected: healthyRunningIps(m).join(','), observed: `${wire.addresses!.join(',')} ttl ${wire.ttl}` };
      });
    }
  });

  it('rolling deploy of a service others depend on: old and new answer together, then only the new', async () => {
    const name = fqdn(ROLLED);
    before = s.runningTasks(ROLLED).map((t) => ({ id: t.id, ip: t.ip }));
    const snap = (event: string) => {
      const a = answerNow(s.h.dnsServer, name);
      snapshots.push({ t: performance.now(), event, addresses: a.addresses, ttl: a.ttl, tasks: tasksOf(ROLLED) });
    };
    const onEvent = (e: { type: string }) => snap(e.type);
    snap('start');
    s.h.events.on('event', onEvent);
    try {
      rolled = await s.deployService(ROLLED, NEXT);
    } finally {
      s.h.events.off('event', onEvent);
    }
    snap('end');
    const after = s.runningTasks(ROLLED).map((t) => ({ id: t.id, ip: t.ip }));
    const oldIps = new Set(before.map((t) => t.ip));
    const newIps = new Set(after.map((t) => t.ip));

    await s.check(`${rolled.script} ${rolled.args.join(' ')} exits 0 with new tasks`, () => {
      expect(rolled.exitCode, rolled.output.slice(-1500)).toBe(0);
      expect(after.length).toBeGreaterThan(0);
      for (const t of after) expect(before.map((b) => b.id)).not.toContain(t.id);
      return { observed: `old ${[...oldIps].join(',')} → new ${[...newIps].join(',')}` };
    });

    await s.check('every answer during the deploy named only live, healthy tasks', () => {
      const bad: string[] = [];
      for (const sn of snapshots) {
        for (const ip of sn.addresses) {
          const t = sn.tasks.find((x) => x.ip === ip && LIVE.has(x.lastStatus));
          if (!t || !t.healthy) bad.push(`${sn.event}: ${ip} answered while its task was ${t ? `${t.lastStatus}/${t.healthy ? 'healthy' : 'not healthy'}` : 'not live'}`);
        }
      }
      expect(bad.slice(0, 5), bad.slice(0, 5).join('\n')).toEqual([]);
      return { observed: `${snapshots.length} answers (one per control-plane event), none naming a task that was not live and healthy` };
    });

    await s.check('during the deploy the old and the new task answered together', () => {
      const both = snapshots.filter((sn) => sn.addresses.some((ip) => oldIps.has(ip)) && sn.addresses.some((ip) => newIps.has(ip)));
      expect(both.length, 'no answer named both').toBeGreaterThan(0);
      return { observed: `${both.length} answer(s) with both, e.g. at ${both[0]!.event}: ${both[0]!.addresses.join(',')}` };
    });

    await s.check('after the drain only the new tasks answer', async () => {
      const wire = await resolveOverWire(s.h.dns, name);
      expect(wire.addresses).toEqual([...newIps].sort());
      const fabric = s.h.fabric as Partial<NetnsFabric>;
      const client = d.services.find((o) => o !== ROLLED && d.dependsOn(o, ROLLED))!;
      const ct = s.runningTasks(client)[0]!;
      const netns = fabric.netnsOfIp?.(ct.ip);
      let inside = '';
      if (netns) {
        const [r] = await resolveProbe({ netns }, [name]);
        expect(r!.addresses).toEqual([...newIps].sort());
        inside = `; inside ${client.ecsService}'s task: ${r!.addresses!.join(',')}`;
      }
      return { expected: [...newIps].sort().join(','), observed: `${wire.addresses!.join(',')}${inside}` };
    });

    await s.check("a stopped task's address is gone from the answers within its TTL", () => {
      const ttl = ttlOf(ROLLED);
      const rows: string[] = [];
      for (const old of before) {
        const stopAt = snapshots.find((sn) => sn.tasks.some((t) => t.id === old.id && t.desiredStatus === 'STOPPED'));
        expect(stopAt, `task ${old.id} was never asked to stop`).toBeDefined();
        const goneAt = snapshots.find((sn) => sn.t >= stopAt!.t && !sn.addresses.includes(old.ip));
        expect(goneAt, `${old.ip} still answered at the end`).toBeDefined();
        const ms = goneAt!.t - stopAt!.t;
        expect(ms).toBeLessThanOrEqual(ttl * 1000);
        rows.push(`${old.ip}: stop requested → gone from answers in ${ms.toFixed(0)} ms (TTL ${ttl} s; a resolver that cached it keeps it ≤ ${ttl} s more)`);
      }
      return { expected: `≤ ${ttl} s`, observed: rows.join('; ') };
    });
  });
});
