import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  describeCatalogue,
  dockerImageName,
  FAULT_TAGS,
  findCatalogueImage,
  imageCatalogue,
  RELEASE_TAGS,
  REPOSITORIES,
  STUB_SERVICES,
  type CatalogueImage,
} from './catalogue.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs a catalogue image's config as a process on 127.0.0.1:<any>; resolves with its health status. */
async function healthOf(image: CatalogueImage): Promise<number> {
  const service = REPOSITORIES[image.repository];
  const [cmd, ...args] = image.config.cmd;
  expect(cmd).toBe('node');
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...image.config.env, HOST: '127.0.0.1', PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      proc.stdout!.on('data', (c: Buffer) => {
        buf += c.toString();
        const m = /listening on (http:\/\/\S+)/.exec(buf);
        if (m) resolve(m[1]);
      });
      proc.on('exit', (code) => reject(new Error(`${image.repository}:${image.tag} exited ${code}`)));
    });
    const res = await fetch(`${url}${STUB_SERVICES[service].healthPath}`);
    const version = (await (await fetch(`${url}/version`)).json()) as { service: string; version: string };
    expect(version).toMatchObject({ service, version: image.tag });
    return res.status;
  } finally {
    proc.kill('SIGKILL');
  }
}

describe('image catalogue', () => {
  const images = imageCatalogue();

  it('holds every tag in each of the five repositories', () => {
    expect(Object.keys(REPOSITORIES).sort()).toEqual(
      ['escher-analysis-agent', 'escher-asset-store', 'escher-context-engine', 'escher-gateway', 'escher-playbook-agent'],
    );
    expect(images).toHaveLength(5 * 7);
    for (const repo of Object.keys(REPOSITORIES)) {
      expect(images.filter((i) => i.repository === repo).map((i) => i.tag)).toEqual([...RELEASE_TAGS, ...FAULT_TAGS]);
    }
  });

  it('is arm64 except fault-amd64, which is amd64 only and otherwise healthy', () => {
    for (const i of images) {
      expect(i.platforms).toEqual([{ os: 'linux', architecture: i.tag === 'fault-amd64' ? 'amd64' : 'arm64' }]);
    }
    const amd = findCatalogueImage('escher-gateway', 'fault-amd64')!;
    expect(amd.config.env.STUB_FAULT).toBeUndefined();
  });

  it('configs run the service entry with the tag as version and the fault as STUB_FAULT', () => {
    for (const i of images) {
      const service = REPOSITORIES[i.repository];
      expect(i.config.cmd).toEqual(['node', `stubs/${service}.mjs`]);
      expect(existsSync(`${ROOT}${i.config.cmd[1]}`)).toBe(true);
      expect(i.config.env).toMatchObject({ STUB_SERVICE: service, STUB_VERSION: i.tag });
      const expectedFault =
        i.tag === 'v2.15.1' ? (service === 'gateway' ? 'unhealthy' : undefined) : i.tag.startsWith('fault-') && i.tag !== 'fault-amd64' ? i.tag.slice(6) : undefined;
      expect(i.config.env.STUB_FAULT).toBe(expectedFault);
      expect(i.description).not.toBe('');
    }
  });

  it('names docker images deterministically and distinctly', () => {
    const names = images.map((i) => i.config.dockerImage!);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^escher-harness\/[a-z-]+:[0-9a-f]{12}$/);
    expect(imageCatalogue().map((i) => i.config.dockerImage)).toEqual(names);
    const cfg = findCatalogueImage('escher-asset-store', 'v2.15.0')!.config;
    expect(dockerImageName('asset-store', { cmd: cfg.cmd, env: { ...cfg.env } })).toBe(cfg.dockerImage);
    // env order does not matter, content does
    const reversed = Object.fromEntries(Object.entries(cfg.env).reverse());
    expect(dockerImageName('asset-store', { cmd: cfg.cmd, env: reversed })).toBe(cfg.dockerImage);
    expect(dockerImageName('asset-store', { cmd: cfg.cmd, env: { ...cfg.env, STUB_VERSION: 'x' } })).not.toBe(cfg.dockerImage);
  });

  it('agrees with the stubs on ports and health paths', () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import { SERVICES } from './stubs/lib/service.mjs'; console.log(JSON.stringify(SERVICES))"],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '' } },
    ).toString();
    const services = JSON.parse(out) as Record<string, { port: number; healthPath: string }>;
    expect(Object.keys(services).sort()).toEqual(Object.keys(STUB_SERVICES).sort());
    for (const [name, info] of Object.entries(STUB_SERVICES)) {
      expect({ port: services[name].port, healthPath: services[name].healthPath }).toEqual({ port: info.port, healthPath: info.healthPath });
    }
  });

  it('v2.15.1 really is the release whose gateway fails its health check', async () => {
    const statuses = await Promise.all(Object.keys(REPOSITORIES).map((r) => healthOf(findCatalogueImage(r, 'v2.15.1')!)));
    expect(Object.fromEntries(Object.keys(REPOSITORIES).map((r, i) => [r, statuses[i]]))).toEqual({
      'escher-gateway': 503,
      'escher-analysis-agent': 200,
      'escher-playbook-agent': 200,
      'escher-context-engine': 200,
      'escher-asset-store': 200,
    });
    expect(await healthOf(findCatalogueImage('escher-gateway', 'v2.15.0')!)).toBe(200);
  });

  it('describes itself as markdown tables for the README', () => {
    const md = describeCatalogue();
    for (const repo of Object.keys(REPOSITORIES)) expect(md).toContain(`\`${repo}\``);
    for (const tag of [...RELEASE_TAGS, ...FAULT_TAGS]) expect(md).toMatch(new RegExp(`^\\| \`${tag}\` \\|`, 'm'));
    expect(md).toContain('| `fault-amd64` | linux/amd64 |');
    expect(md).toContain('/q/health');
  });
});
