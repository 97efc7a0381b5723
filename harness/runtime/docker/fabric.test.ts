/**
 * DockerFabric enforcing security groups in containers' network namespaces (root + nft +
 * nsenter + a Docker engine + arm64 execution; skips saying why otherwise):
 * - the gate: a container whose very first action is a connect its groups forbid is blocked
 *   (its rules were in place before its entry point ran the command);
 * - rules follow changes live (authorize opens, revoke closes) and `settled()`;
 * - harness hosts get their own address on the bridge, filtered by their groups;
 * - close() removes the namespaces' names, the addresses and the nft table.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { netnsCapability } from '../../network/netns-fabric.ts';
import { tcpProbe } from '../../network/probe.ts';
import type { SgGroup } from '../../network/sg-rules.ts';
import { buildImages, engineAnswers } from './images.ts';
import { stubImage } from '../stub-image.ts';
import { arm64Support } from './select.ts';

const RUN = `eh${randomBytes(4).toString('hex')}`;
const img = { config: stubImage({ STUB_VERSION: 'v1.0.0' }) };

const cap = netnsCapability();
const engine = cap.ok ? await engineAnswers() : { ok: false, detail: '' };
const arm = engine.ok ? arm64Support() : { ok: false, detail: '' };
let skipReason = !cap.ok ? cap.reason : !engine.ok ? `no Docker engine answers (${engine.detail})` : !arm.ok ? arm.detail : '';
if (!skipReason) {
  try {
    await buildImages();
  } catch (e) {
    skipReason = `the stub images cannot be built here: ${(e as Error).message}`;
  }
}

/** An in-memory EC2 security group source. */
class Groups {
  readonly groups = new Map<string, SgGroup>();
  private listeners = new Set<() => void>();
  listSecurityGroups(): SgGroup[] {
    return [...this.groups.values()];
  }
  onRulesChanged(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  changed(): void {
    for (const l of this.listeners) l();
  }
}

if (skipReason) {
  console.log(`docker fabric security-group tests SKIPPED: ${skipReason}`);
  describe.skip(`DockerFabric security groups (skipped: ${skipReason})`, () => {
    it('needs root, nft, a Docker engine and arm64 execution', () => {});
  });
} else {
  const [{ DockerRuntime }, { DockerFabric }] = await Promise.all([import('./docker-runtime.ts'), import('./fabric.ts')]);
  const sgs = new Groups();
  // server: 8000 from members of client-ok only; client-ok: egress anywhere; client-no: no egress at all
  sgs.groups.set('sg-server', { groupId: 'sg-server', ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 8000, toPort: 8000, referencedGroupId: 'sg-ok' }], egress: [] });
  sgs.groups.set('sg-ok', { groupId: 'sg-ok', ingress: [], egress: [{ direction: 'egress', ipProtocol: '-1', cidrIpv4: '0.0.0.0/0' }] });
  sgs.groups.set('sg-no', { groupId: 'sg-no', ingress: [], egress: [] });
  sgs.groups.set('sg-db', { groupId: 'sg-db', ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 4000, toPort: 4000, referencedGroupId: 'sg-ok' }], egress: [] });
  const subnets = [{ subnetId: 'subnet-a', cidrBlock: '10.0.1.0/24', availabilityZone: 'us-west-1a' }];
  const fabric = await DockerFabric.create({ runId: RUN, subnets, vpcCidr: '10.0.0.0/16', sgs });
  const rt = new DockerRuntime({ runId: RUN, network: fabric.networkName, timeScale: 0.05, fabric });
  const logs = new Map<string, string[]>();
  const servers: net.Server[] = [];
  afterAll(async () => {
    for (const s of servers) s.close();
    await rt.close();
    await fabric.close();
  });

  const start = async (taskId: string, groups: string[], cmd: string[]) => {
    const eni = await fabric.attach(taskId, ['subnet-a'], groups);
    logs.set(taskId, []);
    const h = await rt.start({
      runId: RUN, taskId, family: 't', containerName: 'app', image: { ...img.config, cmd }, env: {}, ports: [], ip: eni.ip,
      onLog: (_s, l) => logs.get(taskId)!.push(l),
    });
    return { eni, h };
  };
  const until = async (pred: () => boolean, ms: number) => {
    for (let t = Date.now(); !pred() && Date.now() - t < ms; ) await new Promise((r) => setTimeout(r, 100));
  };
  const server = `require('net').createServer((s) => s.on('error', () => {}).end('hi\\n')).listen(8000, () => console.log('listening'))`;
  // the command's first action: one connect, printed as "first: open|blocked|<code>"
  const firstConnect = (target: string) =>
    `const [h, p] = ${JSON.stringify(target.split(':'))}; const s = require('net').connect(+p, h); const t = setTimeout(() => { console.log('first: blocked'); s.destroy(); }, 1500); s.on('connect', () => { console.log('first: open'); clearTimeout(t); s.destroy(); }); s.on('error', (e) => { console.log('first: ' + e.code); clearTimeout(t); }); setInterval(() => {}, 1000);`;

  // containers start under QEMU on a loaded machine: generous per-test time
  describe('DockerFabric: security groups in the containers\' namespaces', { timeout: 60_000 }, () => {
    let srv: Awaited<ReturnType<typeof start>>;

    it('is enforced here, with its own internet address on the bridge', () => {
      expect(fabric.isolationEnforced).toBe(true);
      expect(fabric.internetIp).toMatch(/^198\.18\./);
      expect(spawnSync('ip', ['-4', 'addr', 'show', 'dev', fabric.bridge], { encoding: 'utf8' }).stdout).toContain(`${fabric.internetIp}/32`);
    });

    it('gates the entry point: the first connect of a container its groups forbid is blocked, an allowed one opens', async () => {
      srv = await start('server0000000000', ['sg-server'], ['node', '-e', server]);
      await until(() => logs.get('server0000000000')!.includes('listening'), 30_000);
      expect(logs.get('server0000000000')).toContain('listening');
      const ns = fabric.netnsOfIp(srv.eni.ip)!;
      expect(ns).toMatch(new RegExp(`^${RUN}-c\\d+$`));
      expect(spawnSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'inet', RUN], { encoding: 'utf8' }).stdout).toContain('policy drop');
      await start('denied0000000000', ['sg-no'], ['node', '-e', firstConnect(`${srv.eni.ip}:8000`)]);
      await start('allowed000000000', ['sg-ok'], ['node', '-e', firstConnect(`${srv.eni.ip}:8000`)]);
      await until(() => [...logs.values()].filter((l) => l.some((x) => x.startsWith('first:'))).length === 2, 30_000);
      expect(logs.get('denied0000000000')!.find((l) => l.startsWith('first:'))).toBe('first: blocked');
      expect(logs.get('allowed000000000')!.find((l) => l.startsWith('first:'))).toBe('first: open');
    });

    it('the app does not run before its rules are in place, however long applying them takes', async () => {
      // a fabric whose rule application is slow (3 s): the entry point must wait for it
      let gateOpenedAt = 0;
      const slow = {
        isolationEnforced: true,
        containerStarted: async (id: string, cid: string) => {
          await new Promise((r) => setTimeout(r, 3000));
          await fabric.containerStarted(id, cid);
          gateOpenedAt = Date.now();
        },
      };
      const rt2 = new DockerRuntime({ runId: `${RUN}-slow`, network: fabric.networkName, timeScale: 0.05, fabric: slow });
      const eni = await fabric.attach('slowgate00000000', ['subnet-a'], ['sg-no']);
      const lines: { t: number; l: string }[] = [];
      const h = await rt2.start({
        runId: `${RUN}-slow`, taskId: 'slowgate00000000', family: 't', containerName: 'app', image: { ...img.config, cmd: ['node', '-e', `console.log('app started'); ${firstConnect(`${srv.eni.ip}:8000`)}`] },
        env: {}, ports: [], ip: eni.ip, onLog: (_s, l) => lines.push({ t: Date.now(), l }),
      });
      await until(() => lines.some((x) => x.l.startsWith('first:')), 30_000);
      expect(gateOpenedAt).toBeGreaterThan(0);
      expect(lines[0]!.l).toBe('app started');
      expect(lines[0]!.t).toBeGreaterThanOrEqual(gateOpenedAt);
      expect(lines.find((x) => x.l.startsWith('first:'))!.l).toBe('first: blocked');
      await rt2.stop(h, 1000);
      await rt2.close();
      await fabric.detach('slowgate00000000');
    });

    it('a container the harness starts itself (and starts again) at a reserved address: gated on every start', async () => {
      const { getContainerRuntimeClient } = await import('testcontainers');
      const { gatedEntrypoint, LABEL_OWNER_PID, LABEL_RUN_ID } = await import('./docker-runtime.ts');
      const d = (await getContainerRuntimeClient()).container.dockerode;
      const eni = await fabric.attach('own0000000000000', ['subnet-a'], ['sg-no']);
      const c = await d.createContainer({
        Image: img.config.dockerImage!,
        platform: 'linux/arm64',
        Entrypoint: gatedEntrypoint(),
        Cmd: ['node', '-e', `console.log('run ' + Date.now()); setInterval(() => {}, 1000)`],
        Labels: { 'escher-harness': '1', [LABEL_RUN_ID]: RUN, [LABEL_OWNER_PID]: String(process.pid) },
        HostConfig: { NetworkMode: fabric.networkName },
        NetworkingConfig: { EndpointsConfig: { [fabric.networkName]: { IPAMConfig: { IPv4Address: eni.ip } } } },
      } as never);
      const logs = async () => (await c.logs({ stdout: true, stderr: true })).toString('utf8');
      try {
        for (const round of [1, 2]) {
          await c.start();
          await new Promise((r) => setTimeout(r, 2500));
          // the previous start's marker is still in its root: the gate must stay shut
          expect((await logs()).match(/run \d+/g)?.length ?? 0).toBe(round - 1);
          await fabric.containerStarted('own0000000000000', c.id);
          for (let i = 0; i < 100 && ((await logs()).match(/run \d+/g)?.length ?? 0) < round; i++) await new Promise((r) => setTimeout(r, 100));
          expect((await logs()).match(/run \d+/g)?.length).toBe(round);
          expect(fabric.netnsOfIp(eni.ip)).toMatch(new RegExp(`^${RUN}-c\\d+$`));
          await c.stop({ t: 1 });
        }
        expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${RUN}-c`)).length).toBeLessThanOrEqual(4);
      } finally {
        await c.remove({ force: true });
        await fabric.detach('own0000000000000');
      }
    });

    it('probes from inside a container namespace and from the internet address see the rules; changes apply live', async () => {
      const target = `${srv.eni.ip}:8000`;
      expect((await tcpProbe({ bind: fabric.internetIp }, [target], 500))[0]!.result).toBe('blocked');
      const g = sgs.groups.get('sg-server')!;
      g.ingress.push({ direction: 'ingress', ipProtocol: 'tcp', fromPort: 8000, toPort: 8000, cidrIpv4: `${fabric.internetIp}/32` });
      sgs.changed();
      await fabric.settled();
      expect((await tcpProbe({ bind: fabric.internetIp }, [target], 500))[0]!.result).toBe('open');
      g.ingress.pop();
      sgs.changed();
      await fabric.settled();
      expect((await tcpProbe({ bind: fabric.internetIp }, [target], 500))[0]!.result).toBe('blocked');
      const allowedNs = fabric.netnsOfTask('allowed000000000')!;
      expect((await tcpProbe({ netns: allowedNs }, [target], 500))[0]!.result).toBe('open');
      expect((await tcpProbe({ netns: fabric.netnsOfTask('denied0000000000')! }, [target], 500))[0]!.result).toBe('blocked');
    });

    it('a harness host has its own address on the bridge, filtered by its groups', async () => {
      const host = await fabric.attachHost('db', ['subnet-a'], ['sg-db']);
      expect(host.ip).not.toBe(fabric.gateway);
      const s = net.createServer((c) => c.on('error', () => {}).end('db\n'));
      servers.push(s);
      await new Promise<void>((r) => s.listen(4000, host.ip, r));
      const target = `${host.ip}:4000`;
      expect((await tcpProbe({ netns: fabric.netnsOfTask('allowed000000000')! }, [target], 500))[0]!.result).toBe('open');
      expect((await tcpProbe({ bind: fabric.internetIp }, [target], 500))[0]!.result).toBe('blocked');
      expect(fabric.state().hosts).toEqual([{ name: 'db', ip: host.ip, securityGroups: ['sg-db'] }]);
      s.close();
      await fabric.detachHost('db');
      expect(spawnSync('ip', ['-4', 'addr', 'show', 'dev', fabric.bridge], { encoding: 'utf8' }).stdout).not.toContain(`${host.ip}/32`);
    });

    it('detach and close remove the namespace names, the addresses and the nft table', async () => {
      const ns = fabric.netnsOfTask('denied0000000000')!;
      await rt.close();
      for (const t of ['server0000000000', 'denied0000000000', 'allowed000000000']) await fabric.detach(t);
      expect(fs.existsSync(`/run/netns/${ns}`)).toBe(false);
      const bridge = fabric.bridge;
      await fabric.close();
      expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(`${RUN}-`);
      expect(spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout).not.toContain(`inet ${RUN}`);
      expect(spawnSync('ip', ['link', 'show', bridge]).status).not.toBe(0);
    });
  });
}
