import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { DeployedService } from '../harness/scenario/deployment.ts';
import { dataTier, entryService, serviceApi, assetDb } from './support.ts';

/**
 * Data outlives its clients: assets written through the service users reach (→ … → the
 * service that holds the manifest's SurrealDB URL → SurrealDB) are read back, unchanged,
 * after the manifest's deployService command has replaced every task of the data tier (that
 * service and its direct clients) with a new revision.
 */
let BASE: string;
let NEXT: string;
let entry: DeployedService;
let redeployed: DeployedService[] = [];
let dataSvc: DeployedService;

let s: Scenario;
let base: ScriptRun;
const redeploys: ScriptRun[] = [];
const written: Record<string, unknown>[] = [];
const before = new Map<string, { taskDefinition: string; tasks: string[] }>();
let writeError: string | undefined;

describe('scenario data-survives-redeploy: write through the front service, redeploy the data tier, read back', () => {
  beforeAll(async () => {
    s = await Scenario.start('data-survives-redeploy', { surrealStorage: 'disk' });
    if (!s.h.surreal) throw new Error(`${s.h.manifest.file}: hosts: no surrealdb host, so there is no data tier to redeploy`);
    s.notes.push(`SurrealDB: ${s.h.surreal.kind} at ${s.h.surreal.hostname} (${s.h.surreal.url}), storage ${s.h.surreal.storage}`);
    const good = s.releases().good;
    [BASE, NEXT] = [good[0]!, good.at(-1)!];
    if (BASE === NEXT) throw new Error(`${s.h.manifest.file}: images: two releases healthy in every repository are needed, found ${good.join(', ')}`);
    base = await s.deployAll(BASE);
    if (base.exitCode !== 0) return;
    const d = s.deployment();
    entry = entryService(d);
    redeployed = dataTier(d);
    dataSvc = d.data[0]!;
    s.notes.push(`front ${entry.ecsService}; data tier ${redeployed.map((x) => x.ecsService).join(', ')}`);
    try {
      for (const fields of [
        { name: 'runbook.md', kind: 'playbook', tags: ['ops', 'oncall'] },
        { name: 'topology.json', kind: 'context', size: 2048, nested: { region: 'us-west-1', azs: ['a', 'c'] } },
        { name: 'ünïcödé "quoted" \\ name', kind: 'note', empty: {}, nothing: null },
      ]) {
        const r = await serviceApi(s, entry, 'POST', '/api/assets', fields);
        if (r.status !== 201) throw new Error(`POST /api/assets answered ${r.status}: ${JSON.stringify(r.body)}`);
        written.push(r.body);
      }
    } catch (e) {
      writeError = (e as Error).message;
    }
    for (const m of redeployed) before.set(m.ecsService, { taskDefinition: s.service(m).service.taskDefinition!, tasks: s.runningTasks(m).map((t) => t.id).sort() });
    for (const m of redeployed) redeploys.push(await s.deployService(m, NEXT));
  }, 900_000);
  afterAll(async () => {
    await s?.finish();
  });

  it('deploy-all and every redeploy exit 0', async () => {
    await s.check(`deployAll ${BASE}, then deployService ${redeployed.map((m) => `${m.shortName} ${NEXT}`).join(', ')} exit 0`, () => {
      expect(redeployed.length, 'services of the data tier').toBeGreaterThan(0);
      expect(base.exitCode, base.output.slice(-2000)).toBe(0);
      for (const r of redeploys) expect(r.exitCode, r.output.slice(-2000)).toBe(0);
      return { observed: [base, ...redeploys].map((r) => `exit ${r.exitCode}`).join(', ') };
    });
  });

  it('assets are written through the front service into SurrealDB', async () => {
    await s.check(`3 assets created through ${entry?.ecsService} → … → SurrealDB`, async () => {
      expect(writeError).toBeUndefined();
      expect(written).toHaveLength(3);
      const [assets, events] = await s.h.surreal!.sql('SELECT count() FROM asset GROUP ALL; SELECT count() FROM asset_event GROUP ALL', assetDb(dataSvc));
      expect((assets!.result as { count: number }[])[0]?.count).toBe(3);
      expect((events!.result as { count: number }[])[0]?.count).toBe(3);
      return { observed: `${written.map((w) => w.id).join(', ')}; SurrealDB: 3 asset, 3 asset_event rows` };
    });
  });

  it('the redeploy replaced every task of the data tier', async () => {
    for (const m of redeployed) {
      await s.check(`${m.ecsService}: new revision, only new tasks (${NEXT})`, async () => {
        const st = s.service(m).service;
        const was = before.get(m.ecsService)!;
        expect(st.taskDefinition).not.toBe(was.taskDefinition);
        expect(st.deployments!.map((d) => `${d.status} ${d.rolloutState}`)).toEqual(['PRIMARY COMPLETED']);
        const now = s.runningTasks(m);
        expect(now.length).toBe(st.desiredCount);
        for (const t of now) expect(was.tasks).not.toContain(t.id);
        for (const t of now) expect((await s.httpGet(`http://${t.ip}:${m.port}/version`)).body.version).toBe(NEXT);
        return { observed: `${was.taskDefinition.split('/').pop()} → ${st.taskDefinition!.split('/').pop()}; tasks ${was.tasks.map((t) => t.slice(0, 8)).join(',')} → ${now.map((t) => t.id.slice(0, 8)).join(',')}` };
      });
    }
  });

  it('the same records read back through the front service after the redeploy', async () => {
    await s.check('every asset reads back unchanged by id, and the list holds them in order', async () => {
      expect(written).toHaveLength(3);
      for (const w of written) {
        const r = await serviceApi(s, entry, 'GET', `/api/assets/${encodeURIComponent(String(w.id))}`);
        expect(r.status).toBe(200);
        expect(r.body).toEqual(w);
      }
      const list = await serviceApi(s, entry, 'GET', '/api/assets');
      expect(list.status).toBe(200);
      expect(list.body.assets).toEqual(written);
      return { observed: `${written.length}/${written.length} identical (id, createdAt, fields) via ${new URL(list.url).host}` };
    });
  });
});
