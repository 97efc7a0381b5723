import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import { gatewayApi } from './support.ts';

/**
 * Data outlives its clients: assets written through the gateway (→ context engine → asset
 * store → SurrealDB at surrealdb.escher.internal:4000) are read back, unchanged, after
 * deploy.sh has replaced every asset-store and context-engine task with a new revision.
 */
const BASE = 'v2.14.0';
const NEXT = 'v2.15.0';
const REDEPLOYED = ['asset-store', 'context-engine'];

let s: Scenario;
let base: ScriptRun;
const redeploys: ScriptRun[] = [];
const written: Record<string, unknown>[] = [];
const before = new Map<string, { taskDefinition: string; tasks: string[] }>();
let writeError: string | undefined;

describe(`scenario data-survives-redeploy: write through the gateway, deploy.sh ${REDEPLOYED.join(' + ')} ${NEXT}, read back`, () => {
  beforeAll(async () => {
    s = await Scenario.start('data-survives-redeploy', { surrealStorage: 'disk' });
    s.notes.push(`SurrealDB: ${s.h.surreal.kind} at ${s.h.surreal.hostname} (${s.h.surreal.url}), storage ${s.h.surreal.storage}`);
    base = await s.runScript('deploy-all.sh', [BASE]);
    if (base.exitCode !== 0) return;
    try {
      for (const fields of [
        { name: 'runbook.md', kind: 'playbook', tags: ['ops', 'oncall'] },
        { name: 'topology.json', kind: 'context', size: 2048, nested: { region: 'us-west-1', azs: ['a', 'c'] } },
        { name: 'ünïcödé "quoted" \\ name', kind: 'note', empty: {}, nothing: null },
      ]) {
        const r = await gatewayApi(s, 'POST', '/api/assets', fields);
        if (r.status !== 201) throw new Error(`POST /api/assets answered ${r.status}: ${JSON.stringify(r.body)}`);
        written.push(r.body);
      }
    } catch (e) {
      writeError = (e as Error).message;
    }
    for (const name of REDEPLOYED) {
      const m = s.serviceModel(name);
      before.set(name, { taskDefinition: s.service(m).service.taskDefinition!, tasks: s.runningTasks(m).map((t) => t.id).sort() });
    }
    for (const name of REDEPLOYED) redeploys.push(await s.runScript('deploy.sh', [name, NEXT]));
  }, 900_000);
  afterAll(async () => {
    await s?.finish();
  });

  it('deploy-all and both redeploys exit 0', async () => {
    await s.check(`deploy-all.sh ${BASE}, then deploy.sh ${REDEPLOYED.map((n) => `${n} ${NEXT}`).join(', ')} exit 0`, () => {
      expect(base.exitCode, base.output.slice(-2000)).toBe(0);
      for (const r of redeploys) expect(r.exitCode, r.output.slice(-2000)).toBe(0);
      return { observed: [base, ...redeploys].map((r) => `exit ${r.exitCode}`).join(', ') };
    });
  });

  it('assets are written through the gateway into SurrealDB', async () => {
    await s.check('3 assets created through gateway → context-engine → asset-store → SurrealDB', async () => {
      expect(writeError).toBeUndefined();
      expect(written).toHaveLength(3);
      const [assets, events] = await s.h.surreal.sql('SELECT count() FROM asset GROUP ALL; SELECT count() FROM asset_event GROUP ALL', { namespace: 'escher', database: 'assets' });
      expect((assets!.result as { count: number }[])[0]?.count).toBe(3);
      expect((events!.result as { count: number }[])[0]?.count).toBe(3);
      return { observed: `${written.map((w) => w.id).join(', ')}; SurrealDB: 3 asset, 3 asset_event rows` };
    });
  });

  it('the redeploy replaced every asset-store and context-engine task', async () => {
    for (const name of REDEPLOYED) {
      await s.check(`${name}: new revision, only new tasks (${NEXT})`, async () => {
        const m = s.serviceModel(name);
        const st = s.service(m).service;
        const was = before.get(name)!;
        expect(st.taskDefinition).not.toBe(was.taskDefinition);
        expect(st.deployments!.map((d) => `${d.status} ${d.rolloutState}`)).toEqual(['PRIMARY COMPLETED']);
        const now = s.runningTasks(m);
        expect(now.length).toBe(st.desiredCount);
        for (const t of now) expect(was.tasks).not.toContain(t.id);
        for (const t of now) expect((await s.httpGet(`http://${t.ip}:${m.containerPort}/version`)).body.version).toBe(NEXT);
        return { observed: `${was.taskDefinition.split('/').pop()} → ${st.taskDefinition!.split('/').pop()}; tasks ${was.tasks.map((t) => t.slice(0, 8)).join(',')} → ${now.map((t) => t.id.slice(0, 8)).join(',')}` };
      });
    }
  });

  it('the same records read back through the gateway after the redeploy', async () => {
    await s.check('every asset reads back unchanged by id, and the list holds them in order', async () => {
      expect(written).toHaveLength(3);
      for (const w of written) {
        const r = await gatewayApi(s, 'GET', `/api/assets/${encodeURIComponent(String(w.id))}`);
        expect(r.status).toBe(200);
        expect(r.body).toEqual(w);
      }
      const list = await gatewayApi(s, 'GET', '/api/assets');
      expect(list.status).toBe(200);
      expect(list.body.assets).toEqual(written);
      return { observed: `${written.length}/${written.length} identical (id, createdAt, fields) via ${new URL(list.url).host}` };
    });
  });
});
