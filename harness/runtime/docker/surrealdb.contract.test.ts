/**
 * SurrealDB in docker mode, for real: the container startDockerDataTier runs (the official
 * image when present, else the embedded server's image built offline), on a run network at
 * a fabric-reserved address, driven with the official `surrealdb` SDK over the network.
 * Skips, saying why, when docker mode is unavailable here.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Surreal, createRemoteEngines } from 'surrealdb';
import type { SurrealEndpoint } from '../../data/data-tier.ts';
import { dockerModeAvailable } from './select.ts';

const RUN = `eh${randomBytes(4).toString('hex')}`;
const CREDS = { username: 'root', password: `pw-${randomBytes(4).toString('hex')}` };
const avail = await dockerModeAvailable();

function client(): Surreal {
  return new Surreal({ engines: createRemoteEngines(), websocketImpl: WebSocket as unknown as typeof globalThis.WebSocket });
}

if (!avail.ok) {
  console.log(`SurrealDB docker-mode tests SKIPPED: docker mode unavailable (${avail.reason})`);
  describe.skip(`SurrealDB in docker mode (skipped: ${avail.reason})`, () => {
    it('needs docker mode', () => {});
  });
} else {
  const { DockerFabric } = await import('./fabric.ts');
  const { startDockerDataTier, buildSurrealServerImage } = await import('./surrealdb.ts');
  const { getContainerRuntimeClient } = await import('testcontainers');
  const docker = (await getContainerRuntimeClient()).container.dockerode;
  describe('SurrealDB in docker mode (official SDK over the run network)', () => {
    let fabric: Awaited<ReturnType<typeof DockerFabric.create>>;
    let db: SurrealEndpoint & { containerId?: string; startMs?: number };
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eh-surreal-'));
    const statics = new Map<string, string>();
    const open: Surreal[] = [];
    const connect = async (password = CREDS.password) => {
      const c = client();
      open.push(c);
      await c.connect(`ws://${db.ip}:${db.port}/rpc`, { namespace: 'escher', database: 'assets', authentication: { username: CREDS.username, password }, reconnect: false });
      return c;
    };

    beforeAll(async () => {
      fabric = await DockerFabric.create({ runId: RUN, subnets: [{ subnetId: 'subnet-1', cidrBlock: '10.0.1.0/24', availabilityZone: 'us-west-1a' }] });
      db = await startDockerDataTier({
        runId: RUN,
        fabric,
        subnets: ['subnet-1'],
        securityGroups: ['escher-surrealdb-sg'],
        hostname: 'surrealdb.escher.internal',
        port: 4000,
        dns: { setStaticHost: (n, ip) => void statics.set(n, ip), deleteStaticHost: (n) => void statics.delete(n) },
        credentials: CREDS,
        storage: 'disk',
        runDir,
        log: (l) => console.log(l),
      });
      console.log(`SurrealDB: ${db.kind}; container started and serving in ${((db.startMs ?? 0) / 1000).toFixed(2)} s`);
    }, 240_000);
    afterAll(async () => {
      await Promise.all(open.map((c) => c.close().catch(() => {})));
      await db?.close();
      await fabric?.close();
      fs.rmSync(runDir, { recursive: true, force: true });
    });

    it('serves at its VPC address on port 4000, published as surrealdb.<namespace>, labelled with the run', async () => {
      expect(db.url).toBe(`http://${db.ip}:4000`);
      expect(db.ip.startsWith(fabric.subnet.split('.').slice(0, 2).join('.'))).toBe(true);
      expect(statics.get('surrealdb.escher.internal')).toBe(db.ip);
      const info = await docker.getContainer(db.containerId!).inspect();
      expect(info.Config.Labels).toMatchObject({ 'escher-harness': '1', 'dev.escher-harness.run-id': RUN });
      expect(info.NetworkSettings.Networks[fabric.networkName]?.IPAddress).toBe(db.ip);
      const vol = info.Mounts.find((m) => m.Destination === '/data');
      expect(vol?.Type).toBe('volume');
      const v = await docker.getVolume(vol!.Name!).inspect();
      expect(v.Labels).toMatchObject({ 'escher-harness': '1', 'dev.escher-harness.run-id': RUN });
      const health = await fetch(`${db.url}/health`);
      expect(health.status).toBe(200);
    });

    it('answers the official SDK: queries, a transaction, and refuses a wrong password', async () => {
      const c = await connect();
      await c.query('DEFINE TABLE IF NOT EXISTS asset SCHEMALESS; CREATE asset:one SET name = "first"');
      const [rows] = await c.query<[{ name: string }[]]>('SELECT name FROM asset');
      expect(rows).toEqual([{ name: 'first' }]);
      await c.query('BEGIN; CREATE asset:two SET name = "second"; CREATE asset:three SET name = "third"; COMMIT');
      const [n] = await c.query<[{ count: number }[]]>('SELECT count() FROM asset GROUP ALL');
      expect(n[0]!.count).toBe(3);
      await expect(connect('wrong-password')).rejects.toThrow();
    });

    it('stop() takes it away at the same address, sql() still answers, start() brings it back with the data', async () => {
      await db.stop();
      expect(db.running).toBe(false);
      await expect(fetch(`${db.url}/health`, { signal: AbortSignal.timeout(3000) })).rejects.toThrow();
      const [whileDown] = await db.sql('SELECT count() FROM asset GROUP ALL', { namespace: 'escher', database: 'assets' });
      expect(whileDown!.result).toEqual([{ count: 3 }]);
      await db.start();
      expect(db.running).toBe(true);
      const c = await connect();
      const [rows] = await c.query<[{ name: string }[]]>('SELECT name FROM asset ORDER BY name');
      expect(rows.map((r) => r.name)).toEqual(['first', 'second', 'third']);
    });

    it('close() removes the container and its volume', async () => {
      const info = await docker.getContainer(db.containerId!).inspect();
      const volume = info.Mounts.find((m) => m.Destination === '/data')!.Name!;
      await Promise.all(open.splice(0).map((c) => c.close().catch(() => {})));
      await db.close();
      await expect(docker.getContainer(db.containerId!).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(docker.getVolume(volume).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect(statics.has('surrealdb.escher.internal')).toBe(false);
    });
  });

  describe('SurrealDB in docker mode, the official-image path (docker stop/start), with a stand-in image', () => {
    // The official image is not present here; the embedded server's image takes the official
    // CLI's arguments, so standing in for it exercises that path: `docker stop` / `docker start`
    // at the same address, the volume keeping the data, /sql from the host.
    let fabric: Awaited<ReturnType<typeof DockerFabric.create>>;
    let db: SurrealEndpoint & { containerId?: string };
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eh-surreal-official-'));
    const run = `${RUN}o`;
    beforeAll(async () => {
      const standIn = (await buildSurrealServerImage()).image;
      fabric = await DockerFabric.create({ runId: run, subnets: [{ subnetId: 'subnet-1', cidrBlock: '10.0.1.0/24', availabilityZone: 'us-west-1a' }] });
      db = await startDockerDataTier({
        runId: run,
        fabric,
        subnets: ['subnet-1'],
        hostname: 'surrealdb.escher.internal',
        port: 4000,
        dns: { setStaticHost: () => {}, deleteStaticHost: () => {} },
        credentials: CREDS,
        storage: 'disk',
        runDir,
        officialImage: standIn,
      });
    }, 240_000);
    afterAll(async () => {
      await db?.close();
      await fabric?.close();
      fs.rmSync(runDir, { recursive: true, force: true });
    });

    it('says it runs the official image, and keeps the data across docker stop / docker start at the same address', async () => {
      expect(db.kind).toMatch(/^official image .* in a container \(present locally\)$/);
      await db.sql('CREATE asset:kept SET name = "kept"', { namespace: 'escher', database: 'assets' });
      const ip = db.ip;
      await db.stop();
      expect((await docker.getContainer(db.containerId!).inspect()).State.Running).toBe(false);
      await expect(db.sql('SELECT * FROM asset')).rejects.toThrow(/is stopped/);
      await db.start();
      expect((await docker.getContainer(db.containerId!).inspect()).NetworkSettings.Networks[fabric.networkName]?.IPAddress).toBe(ip);
      const c = client();
      await c.connect(`ws://${ip}:4000/rpc`, { namespace: 'escher', database: 'assets', authentication: CREDS, reconnect: false });
      const [rows] = await c.query<[{ name: string }[]]>('SELECT name FROM asset');
      await c.close();
      expect(rows).toEqual([{ name: 'kept' }]);
    });
  });
}
