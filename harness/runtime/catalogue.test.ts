import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeCatalogue, FAULT_TAGS, findCatalogueImage, imageCatalogue, ownImages, releases, type CatalogueImage } from './catalogue.ts';
import { parseManifest } from '../manifest/load.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const manifest = parseManifest(
  `
region: eu-central-1
vpc: { id: vpc-0a, cidr: 10.9.0.0/16, subnets: [{ id: subnet-0a, cidr: 10.9.1.0/24, az: eu-central-1a }] }
images:
  tags: { r1: healthy, r2: healthy, r3: healthy }
  repositories:
    team/api: { r3: unhealthy }
    team/worker: { r2: { behaviour: crash }, r9: { behaviour: healthy, platforms: [linux/amd64, linux/arm64] } }
    team/web: ~
`,
  'inline.yaml',
).images;

/** Runs a catalogue image's config as a process on 127.0.0.1:<any>; resolves with its health status and /version. */
async function run(image: CatalogueImage): Promise<{ health: number; version: any } | { exit: number | null }> {
  const [cmd, ...args] = image.config.cmd;
  expect(cmd).toBe('node');
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...image.config.env, HOST: '127.0.0.1', STUB_PORTS: '0', STUB_HEALTH_PATHS: '/ready', STUB_SERVICE: 'svc' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise<string | number | null>((resolve) => {
      let buf = '';
      proc.stdout!.on('data', (c: Buffer) => {
        buf += c.toString();
        const m = /listening on (http:\/\/\S+)/.exec(buf);
        if (m) resolve(m[1]!);
      });
      proc.on('exit', (code) => resolve(code));
    });
    if (typeof url !== 'string') return { exit: url as number | null };
    const res = await fetch(`${url}/ready`);
    const version = await (await fetch(`${url}/version`)).json();
    return { health: res.status, version };
  } finally {
    proc.kill('SIGKILL');
  }
}

describe('image catalogue from the manifest', () => {
  const images = imageCatalogue(manifest);

  it('every repository gets the default tags, its overrides and the fault tags', () => {
    const tagsOf = (repo: string) => images.filter((i) => i.repository === repo).map((i) => i.tag);
    expect(tagsOf('team/api')).toEqual(['r1', 'r2', 'r3', ...Object.keys(FAULT_TAGS)]);
    expect(tagsOf('team/worker')).toEqual(['r1', 'r2', 'r3', 'r9', ...Object.keys(FAULT_TAGS)]);
    expect(tagsOf('team/web')).toEqual(['r1', 'r2', 'r3', ...Object.keys(FAULT_TAGS)]);
  });

  it('behaviours become STUB_FAULT; platforms default to images.platforms; amd64-only has no arm64', () => {
    expect(findCatalogueImage(manifest, 'team/api', 'r3')!.config.env).toMatchObject({ STUB_VERSION: 'r3', STUB_FAULT: 'unhealthy' });
    expect(findCatalogueImage(manifest, 'team/api', 'r2')!.config.env.STUB_FAULT).toBeUndefined();
    expect(findCatalogueImage(manifest, 'team/worker', 'r2')!.config.env.STUB_FAULT).toBe('crash');
    expect(findCatalogueImage(manifest, 'team/web', 'r1')!.platforms).toEqual([{ os: 'linux', architecture: 'arm64' }]);
    expect(findCatalogueImage(manifest, 'team/worker', 'r9')!.platforms).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    expect(findCatalogueImage(manifest, 'team/web', 'fault-amd64')!.platforms).toEqual([{ os: 'linux', architecture: 'amd64' }]);
    for (const i of images) {
      expect(i.config).toMatchObject({ cmd: ['node', 'stubs/service.mjs'], stub: true });
      expect(i.config.dockerImage).toMatch(/^[a-z-]+\/stub:[0-9a-f]{12}-arm64$/);
    }
  });

  it('releases: tags in the order written, each with the repositories it breaks', () => {
    expect(releases(manifest)).toEqual([
      { tag: 'r1', unhealthy: [] },
      { tag: 'r2', unhealthy: [{ repository: 'team/worker', behaviour: 'crash' }] },
      { tag: 'r3', unhealthy: [{ repository: 'team/api', behaviour: 'unhealthy' }] },
      { tag: 'r9', unhealthy: [] },
    ]);
  });

  it('a tag filled with the team\'s own image: pushed, not a stub, and no release of the manifest', () => {
    const own = {
      ...manifest,
      tags: { ...manifest.tags, mine: { image: 'team-api:dev' } },
      repositories: { ...manifest.repositories, 'team/web': { ...manifest.repositories['team/web'], r2: { image: 'web:pr-7' } } },
    };
    expect(ownImages(own)).toEqual([
      { repository: 'team/api', tag: 'mine', image: 'team-api:dev', keyPath: 'images.tags.mine.image' },
      { repository: 'team/worker', tag: 'mine', image: 'team-api:dev', keyPath: 'images.tags.mine.image' },
      { repository: 'team/web', tag: 'r2', image: 'web:pr-7', keyPath: 'images.repositories.team/web.r2.image' },
      { repository: 'team/web', tag: 'mine', image: 'team-api:dev', keyPath: 'images.tags.mine.image' },
    ]);
    const stubs = imageCatalogue(own);
    expect(stubs.some((i) => i.tag === 'mine' || (i.repository === 'team/web' && i.tag === 'r2'))).toBe(false);
    expect(stubs.some((i) => i.repository === 'team/api' && i.tag === 'r2')).toBe(true);
    expect(releases(own).map((r) => r.tag)).toEqual(['r1', 'r3', 'r9']);
  });

  it('a healthy image serves its health path with its tag; an unhealthy one answers 503; a crash exits 1', async () => {
    expect(await run(findCatalogueImage(manifest, 'team/api', 'r2')!)).toMatchObject({ health: 200, version: { version: 'r2', service: 'svc' } });
    expect(await run(findCatalogueImage(manifest, 'team/api', 'r3')!)).toMatchObject({ health: 503 });
    expect(await run(findCatalogueImage(manifest, 'team/worker', 'r2')!)).toEqual({ exit: 1 });
  });

  it('describes the behaviours and fault tags as markdown for the README', () => {
    const md = describeCatalogue();
    for (const tag of Object.keys(FAULT_TAGS)) expect(md).toContain(`| \`${tag}\` |`);
    expect(md).toContain('| `unhealthy` |');
  });
});
