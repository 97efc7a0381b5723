/**
 * The image catalogue `harness up` seeds into the ECR emulator: what CI would have pushed
 * before a deploy. Every repository holds the same tags; a tag's ImageConfig tells a runtime
 * how to run it (the process runtime runs `config.cmd` from the harness root, the docker
 * runtime runs `config.dockerImage`, built by docker/ with the same behaviour).
 *
 * Tags:
 * - v2.14.0, v2.15.0: healthy releases.
 * - v2.15.1: a bad release — its gateway answers 503 on /q/health; the other services are healthy.
 * - fault-unhealthy, fault-crash, fault-slow-start: the stub fault (STUB_FAULT) of that name.
 * - fault-amd64: healthy, but built for linux/amd64 only (the tasks want ARM64).
 */
import { createHash } from 'node:crypto';
import type { ImageConfig } from './types.ts';

export type StubService = 'gateway' | 'analysis-agent' | 'playbook-agent' | 'context-engine' | 'asset-store';

export interface StubServiceInfo {
  /** container port the service listens on (PORT overrides) */
  port: number;
  /** path of its health endpoint */
  healthPath: string;
  /** entry point, relative to the harness root */
  entry: string;
}

/** The five stub services (mirrors SERVICES in stubs/lib/service.mjs; a test keeps them equal). */
export const STUB_SERVICES: Readonly<Record<StubService, StubServiceInfo>> = {
  gateway: { port: 8080, healthPath: '/q/health', entry: 'stubs/gateway.mjs' },
  'analysis-agent': { port: 8081, healthPath: '/health', entry: 'stubs/analysis-agent.mjs' },
  'playbook-agent': { port: 8082, healthPath: '/health', entry: 'stubs/playbook-agent.mjs' },
  'context-engine': { port: 8001, healthPath: '/health', entry: 'stubs/context-engine.mjs' },
  'asset-store': { port: 8000, healthPath: '/health', entry: 'stubs/asset-store.mjs' },
};

/** ECR repository name → the service its images run. */
export const REPOSITORIES: Readonly<Record<string, StubService>> = {
  'escher-gateway': 'gateway',
  'escher-analysis-agent': 'analysis-agent',
  'escher-playbook-agent': 'playbook-agent',
  'escher-context-engine': 'context-engine',
  'escher-asset-store': 'asset-store',
};

/** An OCI platform (as in an image index's manifests[].platform). */
export interface ImagePlatform {
  os: string;
  architecture: string;
}

export interface CatalogueImage {
  repository: string;
  tag: string;
  platforms: ImagePlatform[];
  config: ImageConfig;
  description: string;
}

export const RELEASE_TAGS = ['v2.14.0', 'v2.15.0', 'v2.15.1'] as const;
export const FAULT_TAGS = ['fault-unhealthy', 'fault-crash', 'fault-slow-start', 'fault-amd64'] as const;
export type CatalogueTag = (typeof RELEASE_TAGS)[number] | (typeof FAULT_TAGS)[number];

const ARM64: ImagePlatform[] = [{ os: 'linux', architecture: 'arm64' }];
const AMD64: ImagePlatform[] = [{ os: 'linux', architecture: 'amd64' }];

interface TagVariant {
  platforms: ImagePlatform[];
  /** STUB_* env beyond STUB_SERVICE/STUB_VERSION, for a service */
  fault(service: StubService): Record<string, string>;
  description: string;
}

const TAGS: Record<CatalogueTag, TagVariant> = {
  'v2.14.0': { platforms: ARM64, fault: () => ({}), description: 'healthy release' },
  'v2.15.0': { platforms: ARM64, fault: () => ({}), description: 'healthy release' },
  'v2.15.1': {
    platforms: ARM64,
    fault: (s): Record<string, string> => (s === 'gateway' ? { STUB_FAULT: 'unhealthy' } : {}),
    description: 'bad release: the gateway answers 503 on /q/health; the other services are healthy',
  },
  'fault-unhealthy': {
    platforms: ARM64,
    fault: () => ({ STUB_FAULT: 'unhealthy' }),
    description: 'runs, but its health path answers 503',
  },
  'fault-crash': {
    platforms: ARM64,
    fault: () => ({ STUB_FAULT: 'crash' }),
    description: 'logs an error line and exits 1 at start',
  },
  'fault-slow-start': {
    platforms: ARM64,
    fault: () => ({ STUB_FAULT: 'slow-start', STUB_SLOW_START_SECONDS: '20' }),
    description: 'listens only after 20 s × the time scale',
  },
  'fault-amd64': {
    platforms: AMD64,
    fault: () => ({}),
    description: 'healthy, but linux/amd64 only (no arm64 manifest)',
  },
};

/**
 * The local Docker image name that carries an image's behaviour:
 * `escher-harness/<service>:<12 hex of sha256(cmd, env, platforms)>`. Deterministic: the same
 * content gives the same name on every machine, so docker/ can build once and reuse.
 */
export function dockerImageName(
  service: StubService,
  content: { cmd: readonly string[]; env: Readonly<Record<string, string>>; platforms?: readonly ImagePlatform[] },
): string {
  const env = Object.fromEntries(Object.entries(content.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const platforms = (content.platforms ?? ARM64).map((p) => `${p.os}/${p.architecture}`).sort();
  const canonical = JSON.stringify({ service, cmd: content.cmd, env, platforms });
  return `escher-harness/${service}:${createHash('sha256').update(canonical).digest('hex').slice(0, 12)}`;
}

/** Every image `harness up` seeds: each repository × each tag (5 × 7). */
export function imageCatalogue(): CatalogueImage[] {
  const images: CatalogueImage[] = [];
  for (const [repository, service] of Object.entries(REPOSITORIES)) {
    for (const tag of [...RELEASE_TAGS, ...FAULT_TAGS]) {
      const variant = TAGS[tag];
      const env = { STUB_SERVICE: service, STUB_VERSION: tag, ...variant.fault(service) };
      const cmd = ['node', STUB_SERVICES[service].entry];
      const platforms = variant.platforms.map((p) => ({ ...p }));
      images.push({
        repository,
        tag,
        platforms,
        config: { cmd, env, dockerImage: dockerImageName(service, { cmd, env, platforms }) },
        description:
          tag === 'v2.15.1'
            ? service === 'gateway'
              ? 'bad release: answers 503 on /q/health'
              : 'healthy (in the v2.15.1 release only the gateway is unhealthy)'
            : variant.description,
      });
    }
  }
  return images;
}

/** The catalogue entry for repository:tag, if any. */
export function findCatalogueImage(repository: string, tag: string): CatalogueImage | undefined {
  return imageCatalogue().find((i) => i.repository === repository && i.tag === tag);
}

/** Markdown for the README: the repositories, then what each tag does. */
export function describeCatalogue(): string {
  const lines = [
    '| Repository | Service | Port | Health check path |',
    '|---|---|---|---|',
    ...Object.entries(REPOSITORIES).map(([repo, s]) => `| \`${repo}\` | ${s} | ${STUB_SERVICES[s].port} | \`${STUB_SERVICES[s].healthPath}\` |`),
    '',
    '| Tag | Platforms | Behaviour (every repository) |',
    '|---|---|---|',
    ...[...RELEASE_TAGS, ...FAULT_TAGS].map((tag) => {
      const v = TAGS[tag];
      return `| \`${tag}\` | ${v.platforms.map((p) => `${p.os}/${p.architecture}`).join(', ')} | ${v.description} |`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}
