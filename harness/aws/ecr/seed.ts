import type { EcrStore } from './store.ts';
import { buildHarnessImageIndex, MediaTypes } from './manifest.ts';
import { seedImagesThroughRegistry, type RegistrySeedReport, type SeedRegistry } from './seed-registry.ts';
import { stubDockerImage } from '../../runtime/stub-image.ts';

export interface SeedImage {
  repository: string;
  tag: string;
  /** e.g. 'linux/arm64' or {os, architecture} */
  platforms: readonly (string | { os: string; architecture: string })[];
  /** index annotations (the harness's runnable image config rides here) */
  annotations: Record<string, string>;
}

/** The repositories and tagged images CI would have pushed: one OCI image index per tag. */
export function seedImages(store: EcrStore, images: readonly SeedImage[]): void {
  const repos = new Set(images.map((i) => i.repository));
  for (const repo of repos) if (!store.hasRepository(repo)) store.createRepository(repo);
  for (const img of images) {
    const manifest = buildHarnessImageIndex({ platforms: img.platforms, annotations: img.annotations });
    store.putImage(img.repository, manifest, MediaTypes.ociIndex, img.tag);
  }
}

export interface CatalogueSeedImage extends SeedImage {
  /** the image ENV a real image of this tag carries (STUB_VERSION, STUB_FAULT …): its config when pushed through the registry */
  env: Record<string, string>;
}

export interface CatalogueSeedResult {
  /** 'registry': real images pushed through ECR's registry; 'indexes': blob-less indexes (seedImages) */
  through: 'registry' | 'indexes';
  /** one line for the run's registry note */
  note: string;
  ms: number;
  report?: RegistrySeedReport;
}

/**
 * Seeds the catalogue: through the registry when one is given (docker mode: the runtime pulls a
 * stub like any image), else as blob-less indexes (seedImages, the process runtime's path). A
 * failure through the registry never fails the run: what it put in the store goes, the
 * blob-less indexes take its place, and the note says why.
 */
export async function seedCatalogue(
  store: EcrStore,
  images: readonly CatalogueSeedImage[],
  o: { registry?: SeedRegistry; stubImages?: Partial<Record<string, string>>; log?: (line: string) => void },
): Promise<CatalogueSeedResult> {
  const t0 = performance.now();
  const blobless = (why: string): CatalogueSeedResult => {
    seedImages(store, images);
    return { through: 'indexes', note: why, ms: Math.round(performance.now() - t0) };
  };
  if (!o.registry) return blobless('catalogue: blob-less indexes');
  const before = new Map(store.listRepositories().map((r) => [r.name, new Set(store.listImages(r.name).map((i) => i.digest))]));
  try {
    const report = await seedImagesThroughRegistry(store, o.registry, images, { stubImages: o.stubImages ?? { arm64: stubDockerImage('arm64'), amd64: stubDockerImage('amd64') }, log: o.log });
    const stubs = report.stubs.map((s) => `stub linux/${s.arch} ${s.pushed ? `pushed in ${(s.ms / 1000).toFixed(1)} s` : 'already there'}`).join(', ');
    const standIns = report.standIns.length ? `; ${report.standIns.join(', ')}: stand-in config over the arm64 stub's layers` : '';
    return { through: 'registry', note: `catalogue: ${report.images} tag(s) pushed through the registry in ${(report.ms / 1000).toFixed(1)} s (${stubs}${standIns})`, ms: report.ms, report };
  } catch (e) {
    // what the attempt put in the store goes (the registry's bytes stay: harmless, and cached)
    for (const repo of store.listRepositories()) {
      const had = before.get(repo.name);
      for (const img of store.listImages(repo.name)) if (!had?.has(img.digest)) store.deleteImage(repo.name, { imageDigest: img.digest });
    }
    const why = (e as Error).message.split('\n')[0];
    o.log?.(`ECR catalogue: seeding through the registry failed (${why}); blob-less indexes instead`);
    return blobless(`catalogue: blob-less indexes (seeding through the registry failed: ${why})`);
  }
}
