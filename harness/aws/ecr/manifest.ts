import { createHash } from 'node:crypto';

/**
 * Image manifests as ECR stores them: the exact bytes the client put, addressed by
 * `sha256:<hex of those bytes>`. Catalogue images hold no blobs; images pushed to the run's
 * registry (registry.ts) do, and a single manifest's platform then comes from its config blob.
 * A catalogue manifest's platform(s) are read from the manifest itself:
 *
 * - an image index / manifest list (OCI `application/vnd.oci.image.index.v1+json` or Docker
 *   `application/vnd.docker.distribution.manifest.list.v2+json`): `manifests[].platform`,
 *   as in a real multi-arch image (entries with os/architecture `unknown`, which buildx uses
 *   for attestations, are skipped);
 * - a single image manifest: real registries keep the platform in the config blob, which we
 *   don't have, so the harness defines the manifest annotation
 *   {@link HARNESS_PLATFORM_ANNOTATION} = `"<os>/<architecture>[/<variant>]"` (e.g.
 *   `"linux/arm64"`). A single manifest without it has an unknown platform (`platforms: []`).
 */
export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

/** The annotation on a single image manifest that carries its platform (harness convention). */
export const HARNESS_PLATFORM_ANNOTATION = 'io.escher.harness.platform';

export interface ImagePlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList;
}

/** `sha256:` + hex sha256 of the exact manifest bytes (UTF-8), as ECR computes it. */
export function manifestDigest(manifest: string): string {
  return `sha256:${createHash('sha256').update(manifest, 'utf8').digest('hex')}`;
}

/** "linux/arm64/v8" → {os, architecture, variant}; objects pass through (normalized). */
export function parsePlatform(p: string | ImagePlatform): ImagePlatform {
  if (typeof p !== 'string') {
    return p.variant ? { os: p.os, architecture: p.architecture, variant: p.variant } : { os: p.os, architecture: p.architecture };
  }
  const [os, architecture, variant] = p.split('/');
  if (!os || !architecture) throw new Error(`invalid platform '${p}': expected <os>/<architecture>[/<variant>]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: ImagePlatform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** The platforms an image offers, per the rules above. */
export function manifestPlatforms(manifest: Record<string, unknown>, mediaType: string): ImagePlatform[] {
  if (isIndexMediaType(mediaType) || Array.isArray(manifest.manifests)) {
    const out: ImagePlatform[] = [];
    for (const m of (manifest.manifests as unknown[]) ?? []) {
      const p = (m as { platform?: Record<string, unknown> } | null)?.platform;
      if (!p || typeof p.os !== 'string' || typeof p.architecture !== 'string') continue;
      if (p.os === 'unknown' || p.architecture === 'unknown') continue;
      out.push(parsePlatform({ os: p.os, architecture: p.architecture, variant: typeof p.variant === 'string' ? p.variant : undefined }));
    }
    return out;
  }
  const ann = manifest.annotations as Record<string, unknown> | undefined;
  const v = ann?.[HARNESS_PLATFORM_ANNOTATION];
  if (typeof v === 'string') {
    try {
      return [parsePlatform(v)];
    } catch {
      return [];
    }
  }
  return [];
}

function fakeDigest(seed: string): string {
  return `sha256:${createHash('sha256').update(`escher-harness:${seed}`, 'utf8').digest('hex')}`;
}

function sortedObject(o: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!o || Object.keys(o).length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k]!;
  return out;
}

/**
 * A deterministic, well-formed OCI image manifest for one platform: fake (but well-formed)
 * config and layer descriptors, the platform in {@link HARNESS_PLATFORM_ANNOTATION}, plus
 * the given annotations. Same input → same bytes → same digest.
 */
export function buildHarnessImageManifest(opts: { platform: string | ImagePlatform; annotations?: Record<string, string> }): string {
  const platform = parsePlatform(opts.platform);
  const annotations = sortedObject({ ...opts.annotations, [HARNESS_PLATFORM_ANNOTATION]: formatPlatform(platform) });
  const seed = JSON.stringify({ platform, annotations });
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: fakeDigest(`config:${seed}`), size: 1469 },
    layers: [{ mediaType: MediaTypes.ociLayer, digest: fakeDigest(`layer:${seed}`), size: 3 * 1024 * 1024 }],
    annotations,
  });
}

/**
 * A deterministic OCI image index (multi-platform image) as a JSON string: one entry per
 * platform, each pointing at the digest and size of {@link buildHarnessImageManifest} for that
 * platform (with the same annotations), plus top-level `annotations`. The harness seeds its
 * image catalogue with it; `resolveImageUri` reads the platforms back.
 */
export function buildHarnessImageIndex(opts: { platforms: readonly (string | ImagePlatform)[]; annotations?: Record<string, string> }): string {
  if (opts.platforms.length === 0) throw new Error('buildHarnessImageIndex: at least one platform is required');
  const manifests = opts.platforms.map((p) => {
    const platform = parsePlatform(p);
    const child = buildHarnessImageManifest({ platform, annotations: opts.annotations });
    return { mediaType: MediaTypes.ociManifest, digest: manifestDigest(child), size: Buffer.byteLength(child, 'utf8'), platform };
  });
  const index: Record<string, unknown> = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
  const annotations = sortedObject(opts.annotations);
  if (annotations) index.annotations = annotations;
  return JSON.stringify(index);
}
