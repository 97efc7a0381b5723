/**
 * The image catalogue the harness seeds into ECR before the scripts run: what CI would have
 * pushed. It comes from the manifest's `images`: every repository gets the default tags, with
 * the repository's overrides, plus the harness's fault tags. Every image runs the one generic
 * stub (stubs/service.mjs); its behaviour is image ENV (STUB_FAULT), so one stub serves any
 * repository, and what it serves (ports, health paths, dependencies) comes from the task
 * definition at run time, never from the repository's name.
 */
import type { Behaviour, Manifest, TagSpec } from '../manifest/schema.ts';
import type { ImageConfig } from './types.ts';
import { stubDockerImage } from './stub-image.ts';

/** An OCI platform (as in an image index's manifests[].platform). */
export interface ImagePlatform {
  os: string;
  architecture: string;
}

export interface CatalogueImage {
  repository: string;
  tag: string;
  behaviour: Behaviour;
  platforms: ImagePlatform[];
  config: ImageConfig;
  description: string;
}

/** Tags the harness adds to every repository, for fault scenarios (arm64, crash loops, …). */
export const FAULT_TAGS: Readonly<Record<string, Behaviour>> = {
  'fault-unhealthy': 'unhealthy',
  'fault-crash': 'crash',
  'fault-slow-start': 'slow-start',
  'fault-amd64': 'amd64-only',
};

/** What each behaviour does (README and report wording). */
export const BEHAVIOUR_DESCRIPTIONS: Readonly<Record<Behaviour, string>> = {
  healthy: 'serves its health paths with 200',
  unhealthy: 'runs, but its health paths answer 503',
  crash: 'logs an error line and exits 1 at start',
  'slow-start': 'listens only after 20 s × the time scale',
  'amd64-only': 'healthy, but linux/amd64 only (no arm64 manifest): ARM64 tasks fail with CannotPullContainerError',
  'ignore-sigterm': 'healthy, but ignores SIGTERM (stopTimeout then SIGKILL ends it)',
};

const STUB_FAULT: Readonly<Record<Behaviour, Record<string, string>>> = {
  healthy: {},
  unhealthy: { STUB_FAULT: 'unhealthy' },
  crash: { STUB_FAULT: 'crash' },
  'slow-start': { STUB_FAULT: 'slow-start', STUB_SLOW_START_SECONDS: '20' },
  'amd64-only': {},
  'ignore-sigterm': { STUB_FAULT: 'ignore-sigterm' },
};

export function parsePlatform(p: string): ImagePlatform {
  const [os, architecture] = p.split('/');
  return { os: os!, architecture: architecture! };
}

/** The runnable config of a stub image with this behaviour and tag. */
export function stubImageConfig(behaviour: Behaviour, tag: string): ImageConfig {
  const env = { STUB_VERSION: tag, ...STUB_FAULT[behaviour] };
  return { cmd: ['node', 'stubs/service.mjs'], env, dockerImage: stubDockerImage(), stub: true };
}

/** A tag the team's own image fills (`{ image: … }`): pushed through the registry, never a stub. */
export type OwnImageSpec = Extract<TagSpec, { image: string }>;
type StubTagSpec = Exclude<TagSpec, OwnImageSpec>;

function isOwnImage(spec: TagSpec): spec is OwnImageSpec {
  return typeof spec === 'object' && 'image' in spec;
}

function imageOf(repository: string, tag: string, spec: StubTagSpec, defaultPlatforms: string[]): CatalogueImage {
  const behaviour: Behaviour = typeof spec === 'string' ? spec : spec.behaviour;
  const platforms =
    behaviour === 'amd64-only' ? [{ os: 'linux', architecture: 'amd64' }] : ((typeof spec === 'object' && spec.platforms) || defaultPlatforms).map(parsePlatform);
  return { repository, tag, behaviour, platforms, config: stubImageConfig(behaviour, tag), description: BEHAVIOUR_DESCRIPTIONS[behaviour] };
}

/** Every image the harness seeds for a manifest: repository × (default tags ∪ its overrides ∪ fault tags). */
export function imageCatalogue(images: Manifest['images']): CatalogueImage[] {
  const out: CatalogueImage[] = [];
  for (const [repository, overrides] of Object.entries(images.repositories)) {
    const tags: Record<string, TagSpec> = { ...images.tags, ...overrides };
    for (const [tag, spec] of Object.entries(tags)) if (!isOwnImage(spec)) out.push(imageOf(repository, tag, spec, images.platforms));
    for (const [tag, behaviour] of Object.entries(FAULT_TAGS)) if (!(tag in tags)) out.push(imageOf(repository, tag, behaviour, images.platforms));
  }
  return out;
}

/**
 * The team's own images the manifest names (`images.repositories.<repo>.<tag>: { image }`, or a
 * default tag given as one): the harness pushes each local Docker image to <repo>:<tag> through
 * the ECR registry before the scripts run.
 */
export function ownImages(images: Manifest['images']): { repository: string; tag: string; image: string; keyPath: string }[] {
  const out: { repository: string; tag: string; image: string; keyPath: string }[] = [];
  for (const [repository, overrides] of Object.entries(images.repositories)) {
    const tags: Record<string, TagSpec> = { ...images.tags, ...overrides };
    for (const [tag, spec] of Object.entries(tags)) {
      if (isOwnImage(spec)) out.push({ repository, tag, image: spec.image, keyPath: tag in overrides ? `images.repositories.${repository}.${tag}.image` : `images.tags.${tag}.image` });
    }
  }
  return out;
}

/** The catalogue entry for repository:tag, if any. */
export function findCatalogueImage(images: Manifest['images'], repository: string, tag: string): CatalogueImage | undefined {
  return imageCatalogue(images).find((i) => i.repository === repository && i.tag === tag);
}

/** A one-image catalogue for tests and benchmarks that need "some stub" without a manifest. */
export function testStubImage(behaviour: Behaviour = 'healthy', tag = 'v1.0.0'): CatalogueImage {
  return imageOf('sample/service', tag, behaviour, ['linux/arm64']);
}

/**
 * The release tags of a manifest, in the order written, each with the repositories where it is
 * not healthy. A tag any repository fills with the team's own image is not a release here: what
 * that image does is for its run to show, not for the manifest to say.
 */
export function releases(images: Manifest['images']): { tag: string; unhealthy: { repository: string; behaviour: Behaviour }[] }[] {
  const tags = new Set<string>(Object.keys(images.tags));
  for (const o of Object.values(images.repositories)) for (const t of Object.keys(o)) tags.add(t);
  const specOf = (repository: string, tag: string): TagSpec => ({ ...images.tags, ...images.repositories[repository] })[tag] ?? 'healthy';
  return [...tags]
    .filter((tag) => !Object.keys(images.repositories).some((r) => isOwnImage(specOf(r, tag))))
    .map((tag) => ({
      tag,
      unhealthy: Object.keys(images.repositories)
        .map((repository) => ({ repository, behaviour: imageOf(repository, tag, specOf(repository, tag) as StubTagSpec, images.platforms).behaviour }))
        .filter((x) => x.behaviour !== 'healthy'),
    }));
}

/** Markdown for the README: what each behaviour and fault tag does. */
export function describeCatalogue(): string {
  const lines = [
    '| Behaviour | What the stub does |',
    '|---|---|',
    ...Object.entries(BEHAVIOUR_DESCRIPTIONS).map(([b, d]) => `| \`${b}\` | ${d} |`),
    '',
    '| Fault tag (added to every repository) | Behaviour |',
    '|---|---|',
    ...Object.entries(FAULT_TAGS).map(([t, b]) => `| \`${t}\` | \`${b}\` |`),
  ];
  return `${lines.join('\n')}\n`;
}
