import type { Scenario } from '../harness/scenario/scenario.ts';
import type { ServiceModel } from '../harness/topology/model.ts';
import { requestJson } from '../harness/data/task-request.ts';

/** The health path a service's container health check curls (from its task definition). */
export function healthPath(m: ServiceModel): string {
  const cmd: string[] = m.taskDefinition.containerDefinitions?.[0]?.healthCheck?.command ?? [];
  const url = /https?:\/\/[^\s'"]+/.exec(cmd.join(' '))?.[0];
  return url ? new URL(url).pathname : '/health';
}

export interface ProbeRow {
  service: string;
  ip: string;
  health: number | string;
  version: string;
}

/** GETs every running task's health path and /version directly at its address. */
export async function probeAllServices(s: Scenario): Promise<ProbeRow[]> {
  const rows: ProbeRow[] = [];
  for (const m of s.h.topology.services) {
    for (const t of s.runningTasks(m)) {
      const base = `http://${t.ip}:${m.containerPort}`;
      let health: number | string;
      let version = '';
      try {
        health = (await s.httpGet(base + healthPath(m))).status;
        version = (await s.httpGet(base + '/version')).body?.version ?? '';
      } catch (e) {
        health = (e as Error).name === 'TimeoutError' ? 'timeout' : (e as Error).message;
      }
      rows.push({ service: m.name, ip: t.ip, health, version });
    }
  }
  return rows;
}

/** Service names in a /api/trace answer, depth first. */
export function traceHops(body: any): string[] {
  const out: string[] = [];
  const walk = (n: any) => {
    if (!n || typeof n !== 'object') return;
    if (n.service) out.push(n.service);
    for (const h of n.hops ?? []) walk(h);
  };
  walk(body);
  return out;
}

/**
 * A JSON request to a running gateway task, sent from where the gateway stands (its own
 * namespace in netns and docker mode, where the security groups drop the harness host; the
 * host in loopback mode). For requests that skip the ALB on purpose (data scenarios).
 */
export async function gatewayApi(s: Scenario, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any; url: string }> {
  const gw = s.serviceModel('gateway');
  const t = s.runningTasks(gw)[0];
  if (!t) throw new Error('no running gateway task');
  const netns = (s.h.fabric as { netnsOfIp?: (ip: string) => string | undefined }).netnsOfIp?.(t.ip);
  const url = `http://${t.ip}:${gw.containerPort}${path}`;
  const r = await requestJson(url, { method, body, netns, timeoutMs: 15_000 });
  return { status: r.status, body: r.body, url };
}
