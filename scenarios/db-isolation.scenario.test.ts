import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { NetnsFabric } from '../harness/network/netns-fabric.ts';
import { httpProbe, resolveProbe, tcpProbe } from '../harness/network/probe.ts';

/**
 * Only the asset store may open SurrealDB's port 4000 (escher-surrealdb-sg admits
 * escher-asset-sg alone): probed from inside every task's network namespace, by address and by
 * the name the task definitions use. Where nothing enforces security groups (loopback, docker)
 * the isolation rows are recorded as not verified — never as passed.
 */
const VERSION = 'v2.15.0';
const ALLOWED = 'asset-store';
const PROBE_TIMEOUT_MS = 1000;

let s: Scenario;
let run: ScriptRun;

describe('scenario db-isolation: only asset-store tasks reach SurrealDB on 4000', () => {
  beforeAll(async () => {
    s = await Scenario.start('db-isolation');
    run = await s.runScript('deploy-all.sh', [VERSION]);
  }, 900_000);
  afterAll(async () => {
    await s?.finish();
  });

  it('deploy-all exits 0 and the asset store reaches SurrealDB', async () => {
    await s.check(`deploy-all.sh ${VERSION} exits 0; asset-store /health 200 (it reads SurrealDB)`, async () => {
      expect(run.exitCode, run.output.slice(-2000)).toBe(0);
      const m = s.serviceModel(ALLOWED);
      const tasks = s.runningTasks(m);
      expect(tasks.length).toBeGreaterThan(0);
      for (const t of tasks) expect((await s.httpGet(`http://${t.ip}:${m.containerPort}/health`)).status).toBe(200);
      return { observed: `${tasks.length} asset-store task(s) healthy; SurrealDB at ${s.h.surreal.hostname} → ${s.h.surreal.ip}:${s.h.surreal.port}` };
    });
  });

  it('port 4000 is open to asset-store tasks only', async () => {
    const fabric = s.h.fabric as Partial<NetnsFabric>;
    const target = `${s.h.surreal.ip}:${s.h.surreal.port}`;
    for (const m of s.h.topology.services) {
      const expected = m.name === ALLOWED ? 'open' : 'blocked';
      for (const t of s.runningTasks(m)) {
        const name = `${m.name} ${t.ip} → ${s.h.surreal.hostname}:${s.h.surreal.port} ${expected}`;
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
            const [resolved] = await resolveProbe({ netns }, [s.h.surreal.hostname]);
            expect(resolved!.addresses).toEqual([s.h.surreal.ip]);
            const h = await httpProbe({ netns }, `http://${s.h.surreal.hostname}:${s.h.surreal.port}/health`);
            expect(h.status).toBe(200);
            viaName = `; GET http://${s.h.surreal.hostname}:${s.h.surreal.port}/health ${h.status}`;
          }
          return { expected, observed: `${byIp!.result} (${byIp!.ms} ms)${viaName}` };
        });
      }
    }
  });
});
