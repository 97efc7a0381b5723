import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { NetnsFabric } from '../harness/network/netns-fabric.ts';
import { httpProbe, resolveProbe, tcpProbe } from '../harness/network/probe.ts';
import type { Deployment } from '../harness/scenario/deployment.ts';
import { latestGood } from './support.ts';

/**
 * Only the services whose task definitions name the manifest's SurrealDB host may open its
 * port (need to know: the database's group should admit their groups alone): probed from
 * inside every task's network namespace, by address and, for those allowed, by the name the
 * task definitions use. Where nothing enforces security groups (loopback, docker without root)
 * the isolation rows are recorded as not verified — never as passed.
 */
const PROBE_TIMEOUT_MS = 1000;
let VERSION: string;
let d: Deployment;

let s: Scenario;
let run: ScriptRun;

describe('scenario db-isolation: only the services that name SurrealDB reach its port', () => {
  beforeAll(async () => {
    s = await Scenario.start('db-isolation');
    if (!s.h.surreal) throw new Error(`${s.h.manifest.file}: hosts: no surrealdb host to isolate`);
    VERSION = latestGood(s);
    run = await s.deployAll(VERSION);
    d = s.deployment();
  }, 900_000);
  afterAll(async () => {
    await s?.finish();
  });

  it('deploy-all exits 0 and the data services reach SurrealDB', async () => {
    await s.check(`${run.script} ${VERSION} exits 0; ${d.data.map((m) => m.ecsService).join(', ')} health 200 (they read SurrealDB)`, async () => {
      expect(run.exitCode, run.output.slice(-2000)).toBe(0);
      expect(d.data.length, 'services naming the SurrealDB host').toBeGreaterThan(0);
      let n = 0;
      for (const m of d.data) {
        const tasks = s.runningTasks(m);
        expect(tasks.length).toBeGreaterThan(0);
        for (const t of tasks) expect((await s.httpGet(`http://${t.ip}:${m.port}${m.healthPath}`)).status).toBe(200);
        n += tasks.length;
      }
      return { observed: `${n} task(s) healthy; SurrealDB at ${s.h.surreal!.hostname} → ${s.h.surreal!.ip}:${s.h.surreal!.port}` };
    });
  });

  it('the database port is open to the data services only', async () => {
    const fabric = s.h.fabric as Partial<NetnsFabric>;
    const db = s.h.surreal!;
    const target = `${db.ip}:${db.port}`;
    for (const m of d.order) {
      const expected = d.data.includes(m) ? 'open' : 'blocked';
      for (const t of s.runningTasks(m)) {
        const name = `${m.ecsService} ${t.ip} → ${db.hostname}:${db.port} ${expected}`;
        const netns = fabric.netnsOfIp?.(t.ip);
        if (!s.h.isolationEnforced || !netns) {
          s.notVerified(name, `${s.h.networkMode ?? 'loopback'} mode: nothing enforces security groups here, so every task could open ${target}`);
          continue;
        }
        await s.check(name, async () => {
          const [byIp] = await tcpProbe({ netns }, [target], PROBE_TIMEOUT_MS);
          expect(byIp!.result).toBe(expected);
          let viaName = '';
          if (expected === 'open') {
            // by the name in SURREAL_URL, through the task's own resolver, and over HTTP
            const [resolved] = await resolveProbe({ netns }, [db.hostname]);
            expect(resolved!.addresses).toEqual([db.ip]);
            const h = await httpProbe({ netns }, `http://${db.hostname}:${db.port}/health`);
            expect(h.status).toBe(200);
            viaName = `; GET http://${db.hostname}:${db.port}/health ${h.status}`;
          }
          return { expected, observed: `${byIp!.result} (${byIp!.ms} ms)${viaName}` };
        });
      }
    }
  });
});
