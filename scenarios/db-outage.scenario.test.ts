import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { DeployedService } from '../harness/scenario/deployment.ts';
import { entryService, latestGood, serviceApi, assetDb } from './support.ts';
import type { TimelineEvent } from '../harness/events.ts';

/**
 * SurrealDB goes away under a running topology and comes back:
 * - the data service's health path turns 503, ECS replaces its tasks ("Task failed container
 *   health checks", service events as AWS writes them), requests through the front service fail
 *   with a clear error, and nothing half-written is left in the database;
 * - once SurrealDB is back the service reaches steady state again by itself, and the data
 *   written before the outage is all there.
 * The report carries the timeline from the outage to the recovery.
 */
let VERSION: string;
/** the service that holds the SurrealDB URL, and the one users reach */
let SVC: DeployedService;
let entry: DeployedService;
const HEALTH_REASON = 'Task failed container health checks';
const OUTAGE_WAIT_MS = 120_000;

let s: Scenario;
let run: ScriptRun;
const written: Record<string, any>[] = [];
let outageSeq = 0;
let restartSeq = 0;
let duringOutage: { status: number; body: any } | undefined;
let healthDuring: { status: number; body: any } | undefined;
let setupError: string | undefined;

const ecsName = () => SVC.ecsService;

const events = (from = 0): TimelineEvent[] => s.h.events.all().filter((e) => e.seq >= from);
/** the task (any status) of the data service with this id */
const taskById = (id: string) => s.h.stores.ecs.tasksOfService(s.service(SVC)).find((t) => t.task.taskArn?.endsWith(`/${id}`))?.task;
/** STOPPED transitions of the data service's tasks whose stoppedReason is the health-check one */
const healthStops = (from: number) =>
  events(from).filter((e) => e.type === 'ecs.task.state' && e.service === ecsName() && e.lastStatus === 'STOPPED' && taskById(String(e.taskId))?.stoppedReason === HEALTH_REASON);

/** The outage as one line per event that matters, relative to the moment SurrealDB stopped. */
function timeline(): string[] {
  const t0 = s.h.events.all()[outageSeq]?.t ?? 0;
  const rel = (e: TimelineEvent) => `+${((e.t - t0) / 1000).toFixed(2)}s`;
  const lines: string[] = [];
  for (const e of events(outageSeq)) {
    if (e.type === 'surrealdb.stopped') lines.push(`${rel(e)} SurrealDB stopped`);
    else if (e.type === 'surrealdb.started') lines.push(`${rel(e)} SurrealDB started`);
    else if (e.type === 'scenario.request') lines.push(`${rel(e)} ${String(e.what)}`);
    else if (e.service !== ecsName()) continue;
    else if (e.type === 'ecs.task.health') lines.push(`${rel(e)} task ${String(e.taskId).slice(0, 8)} ${String(e.healthStatus)}`);
    else if (e.type === 'ecs.task.state' && (e.lastStatus === 'RUNNING' || e.lastStatus === 'STOPPED' || e.lastStatus === 'PROVISIONING'))
      lines.push(`${rel(e)} task ${String(e.taskId).slice(0, 8)} ${String(e.lastStatus)}${e.lastStatus === 'STOPPED' ? ` (stoppedReason: ${taskById(String(e.taskId))?.stoppedReason ?? '?'})` : ''}`);
    else if (e.type === 'ecs.service.event') lines.push(`${rel(e)} service event: ${String(e.message)}`);
    else if (e.type === 'ecs.service.steady') lines.push(`${rel(e)} service steady`);
  }
  return lines;
}

describe('scenario db-outage: SurrealDB stops under a running topology, then comes back', () => {
  beforeAll(async () => {
    s = await Scenario.start('db-outage', { surrealStorage: 'disk' });
    if (!s.h.surreal) throw new Error(`${s.h.manifest.file}: hosts: no surrealdb host to take away`);
    s.notes.push(`SurrealDB: ${s.h.surreal.kind} at ${s.h.surreal.hostname} (${s.h.surreal.url}), storage ${s.h.surreal.storage}`);
    VERSION = latestGood(s);
    run = await s.deployAll(VERSION);
    if (run.exitCode !== 0) return;
    const d = s.deployment();
    entry = entryService(d);
    SVC = d.data[0]!;
    if (!SVC) throw new Error('no service the scripts created names the SurrealDB host');
    try {
      for (const name of ['before-1', 'before-2']) {
        const r = await serviceApi(s, entry, 'POST', '/api/assets', { name, kind: 'outage-test' });
        if (r.status !== 201) throw new Error(`POST /api/assets answered ${r.status}: ${JSON.stringify(r.body)}`);
        written.push(r.body);
      }
      // the outage
      outageSeq = s.h.events.all().length;
      await s.h.surreal.stop();
      const t = s.runningTasks(SVC)[0];
      if (t) {
        const r = await s.httpGet(`http://${t.ip}:${SVC.port}${SVC.healthPath}`, 5000);
        healthDuring = { status: r.status, body: r.body };
      }
      s.h.events.append('scenario.request', { what: `POST /api/assets through ${entry.ecsService}` });
      duringOutage = await serviceApi(s, entry, 'POST', '/api/assets', { name: 'during-outage', kind: 'outage-test' });
      s.h.events.append('scenario.request', { what: `→ ${duringOutage.status} ${JSON.stringify(duringOutage.body).slice(0, 160)}` });
      // the first task fails its health checks, and so does its replacement: no task can be healthy without the database
      await s.until(`ECS stops two ${SVC} tasks in a row with "${HEALTH_REASON}"`, () => healthStops(outageSeq).length >= 2, OUTAGE_WAIT_MS);
      // recovery
      restartSeq = s.h.events.all().length;
      await s.h.surreal!.start();
      await s.until(
        `${ecsName()} reaches steady state again after SurrealDB is back`,
        () => events(restartSeq).some((e) => e.type === 'ecs.service.steady' && e.service === ecsName()),
        OUTAGE_WAIT_MS,
      );
    } catch (e) {
      setupError = (e as Error).message;
    } finally {
      if (s.h.surreal && !s.h.surreal.running) await s.h.surreal.start().catch(() => {});
      if (outageSeq) s.notes.push(`outage timeline (${ecsName()}):\n      ${timeline().join('\n      ')}`);
    }
  }, 900_000);
  afterAll(async () => {
    await s?.finish();
  });

  it('deploy-all exits 0 and assets are written before the outage', async () => {
    await s.check(`${run.script} ${VERSION} exits 0; 2 assets written through ${entry?.ecsService}`, () => {
      expect(run.exitCode, run.output.slice(-2000)).toBe(0);
      expect(written.map((w) => w.name)).toEqual(['before-1', 'before-2']);
      return { observed: `exit 0; ${written.map((w) => w.id).join(', ')}` };
    });
  });

  it('during the outage: /health 503, and a write fails with a clear error', async () => {
    await s.check(`${SVC.ecsService} ${SVC.healthPath} answers 503 naming SurrealDB`, () => {
      expect(healthDuring?.status).toBe(503);
      expect(String(healthDuring?.body?.reason)).toMatch(/SurrealDB unavailable/);
      return { observed: `${healthDuring!.status} ${healthDuring!.body.reason}` };
    });
    await s.check(`POST /api/assets through ${entry.ecsService} fails with a clear error`, () => {
      expect(duringOutage, setupError).toBeDefined();
      expect(duringOutage!.status).toBeGreaterThanOrEqual(500);
      // either the data service answered (503 naming SurrealDB) or it was already being replaced (502 naming the hop)
      expect(JSON.stringify(duringOutage!.body)).toMatch(new RegExp(`SurrealDB unavailable|${SVC.shortName}|ECONNREFUSED|ENOTFOUND|timed out`));
      return { observed: `${duringOutage!.status} ${JSON.stringify(duringOutage!.body).slice(0, 200)}` };
    });
  });

  it('ECS replaces the unhealthy tasks as AWS does', async () => {
    await s.check(`stoppedReason "${HEALTH_REASON}" and the service event`, async () => {
      expect(setupError ?? '').not.toMatch(/ECS stops/);
      const stops = healthStops(outageSeq);
      expect(stops.length).toBeGreaterThanOrEqual(2);
      const msgs = events(outageSeq).filter((e) => e.type === 'ecs.service.event' && e.service === ecsName()).map((e) => String(e.message));
      const taskId = String(stops[0]!.taskId);
      expect(msgs).toContain(`(service ${ecsName()}) (task ${taskId}) failed container health checks.`);
      // and the aws CLI sees the stopped task with that reason
      const described = await s.aws(['ecs', 'describe-tasks', '--cluster', SVC.cluster, '--tasks', taskId]);
      expect(described.code, described.stderr).toBe(0);
      expect(described.json.tasks[0].stoppedReason).toBe(HEALTH_REASON);
      expect(described.json.tasks[0].stopCode).toBe('ServiceSchedulerInitiated');
      return { observed: `${stops.length} task(s) stopped: ${stops.map((e) => String(e.taskId).slice(0, 8)).join(', ')}; describe-tasks stoppedReason "${described.json.tasks[0].stoppedReason}"` };
    });
  });

  it('SurrealDB back: the service recovers on its own and no data is lost or half-written', async () => {
    await s.check(`${ecsName()} back to steady state without intervention`, () => {
      expect(setupError).toBeUndefined();
      const steady = events(restartSeq).find((e) => e.type === 'ecs.service.steady' && e.service === ecsName())!;
      const st = s.service(SVC).service;
      expect(st.runningCount).toBe(st.desiredCount);
      return { observed: `steady ${((steady.t - s.h.events.all()[restartSeq]!.t) / 1000).toFixed(2)} s after SurrealDB started; running ${st.runningCount}/${st.desiredCount}` };
    });
    await s.check('the assets from before the outage read back; the failed write left nothing', async () => {
      const list = await serviceApi(s, entry, 'GET', '/api/assets');
      expect(list.status).toBe(200);
      expect(list.body.assets).toEqual(written);
      const [assets, evts, stray] = await s.h.surreal!.sql(
        "SELECT count() FROM asset GROUP ALL; SELECT count() FROM asset_event GROUP ALL; SELECT * FROM asset WHERE data.name = 'during-outage'",
        assetDb(SVC),
      );
      const count = (r: typeof assets) => (r!.result as { count: number }[])[0]?.count ?? 0;
      expect(count(assets)).toBe(written.length);
      expect(count(evts)).toBe(count(assets));
      expect(stray!.result).toEqual([]);
      return { observed: `${count(assets)} asset rows = ${count(evts)} asset_event rows; none named during-outage` };
    });
    await s.check(`writes work again through ${entry.ecsService}`, async () => {
      const r = await serviceApi(s, entry, 'POST', '/api/assets', { name: 'after', kind: 'outage-test' });
      expect(r.status).toBe(201);
      expect((await serviceApi(s, entry, 'GET', `/api/assets/${r.body.id}`)).body).toEqual(r.body);
      return { observed: `201 ${r.body.id}` };
    });
  });
});
