import type { EcrStore } from './store.ts';
import { buildHarnessImageIndex, MediaTypes } from './manifest.ts';

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
