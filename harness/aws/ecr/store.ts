import { randomBytes } from 'node:crypto';
import type { EventSink } from '../protocol/types.ts';
import { ecrErrors, type ImageIdentifier } from './errors.ts';
import { manifestDigest, manifestPlatforms, isIndexMediaType, MediaTypes, formatPlatform, type ImagePlatform } from './manifest.ts';

export interface EcrStoreDeps {
  account: string;
  region: string;
  now?: () => Date;
  events?: EventSink;
}

export type ImageTagMutability = 'MUTABLE' | 'IMMUTABLE';

/**
 * Where an image's bytes are: `registry` — pushed into (or put through) the run's OCI registry,
 * so its blobs exist and `docker pull` works; `catalogue` — a manifest only (the harness's stub
 * images seeded without blobs, or any PutImage while no registry runs).
 */
export type ImageSource = 'catalogue' | 'registry';

/** What a registry behind the store does for the ECR API calls that change images. */
export interface EcrRegistryBackend {
  /** PutImage: the manifest goes to the registry first (its layers must be there), then the store */
  putImage(repoName: string, manifestJson: string, mediaType: string | undefined, tag: string | undefined, opts: { imageDigest?: string }): Promise<EcrImage>;
  /** one BatchDeleteImage identifier: deleting an image removes it from the registry too */
  deleteImage(repoName: string, id: ImageIdentifier): Promise<ImageIdentifier[] | undefined>;
}

/** What `putImage` learned from the registry for an image pushed there. */
export interface RegistryFacts {
  /** a single manifest's platform, from its config blob (os/architecture/variant) */
  platforms?: ImagePlatform[];
}

export interface EcrImage {
  digest: string;
  /** the exact manifest bytes the client put */
  manifest: string;
  mediaType: string;
  /** config media type of an image manifest (ECR's artifactMediaType) */
  artifactMediaType?: string;
  sizeInBytes?: number;
  pushedAt: Date;
  /** tags currently pointing at this digest, in the order they were applied */
  tags: string[];
  platforms: ImagePlatform[];
  source: ImageSource;
}

export interface EcrRepository {
  name: string;
  arn: string;
  uri: string;
  registryId: string;
  createdAt: Date;
  imageTagMutability: ImageTagMutability;
  scanOnPush: boolean;
  encryptionType: string;
  kmsKey?: string;
  tags: { Key: string; Value: string }[];
  /** digest → image, in push order */
  images: Map<string, EcrImage>;
  /** tag → digest */
  tagIndex: Map<string, string>;
}

/** What the ECS scheduler gets for a task definition's `image`. */
export interface ResolvedImage {
  registryId: string;
  repositoryName: string;
  /** the tag asked for (absent for a digest reference) */
  tag?: string;
  digest: string;
  manifest: string;
  mediaType: string;
  platforms: ImagePlatform[];
  /** `registry`: the engine can pull it from the run's registry; `catalogue`: a manifest only */
  source: ImageSource;
}

/** A password GetAuthorizationToken issued (what `aws ecr get-login-password` prints). */
export interface IssuedToken {
  password: string;
  expiresAt: Date;
}

/** How long an ECR authorization token is valid (12 hours, as ECR's). */
export const TOKEN_VALIDITY_MS = 12 * 3600 * 1000;

const REPO_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const IMAGE_TAG = /^[\w][\w.-]{0,299}$/;
export const DIGEST_PATTERN = /^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$/;

/** The stoppedReason text ECS gives when an image reference cannot be pulled. */
export function imageNotFoundReason(ref: string): string {
  return `CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref ${ref}: ${ref}: not found`;
}

/** The stoppedReason text ECS gives when an index has no manifest for the task's platform. */
export function imagePlatformMismatchReason(platform: string | ImagePlatform): string {
  const p = typeof platform === 'string' ? platform : formatPlatform(platform);
  return `CannotPullContainerError: pull image manifest has been retried 7 time(s): image Manifest does not contain descriptor matching platform '${p}'`;
}

/**
 * ECR state: repositories, images addressed by digest, tags pointing at digests. Retagging
 * moves a tag as ECR does; the image it left stays (untagged) until deleted.
 */
export class EcrStore {
  readonly account: string;
  readonly region: string;
  readonly now: () => Date;
  private readonly events?: EventSink;
  private readonly repos = new Map<string, EcrRepository>();
  private readonly tokens = new Map<string, Date>();
  private backend?: EcrRegistryBackend;

  constructor(deps: EcrStoreDeps) {
    this.account = deps.account;
    this.region = deps.region;
    this.now = deps.now ?? (() => new Date());
    this.events = deps.events;
  }

  /** `<account>.dkr.ecr.<region>.amazonaws.com` */
  get registryHost(): string {
    return `${this.account}.dkr.ecr.${this.region}.amazonaws.com`;
  }

  /** The registry behind this store while one runs (the ECR API's image changes go through it). */
  get registry(): EcrRegistryBackend | undefined {
    return this.backend;
  }

  attachRegistry(backend: EcrRegistryBackend): void {
    this.backend = backend;
  }

  detachRegistry(backend: EcrRegistryBackend): void {
    if (this.backend === backend) this.backend = undefined;
  }

  /** A new registry password (GetAuthorizationToken), valid for 12 hours of this store's clock. */
  issueAuthorizationToken(): IssuedToken {
    const password = `harness-ecr-token-${randomBytes(24).toString('hex')}`;
    const expiresAt = new Date(this.now().getTime() + TOKEN_VALIDITY_MS);
    this.tokens.set(password, expiresAt);
    return { password, expiresAt };
  }

  /** Whether the registry accepts this password: issued here and not expired. */
  checkAuthorizationToken(password: string): 'valid' | 'expired' | 'unknown' {
    const exp = this.tokens.get(password);
    if (!exp) return 'unknown';
    return exp.getTime() > this.now().getTime() ? 'valid' : 'expired';
  }

  createRepository(
    name: string,
    opts: { imageTagMutability?: ImageTagMutability; scanOnPush?: boolean; encryptionType?: string; kmsKey?: string; tags?: { Key: string; Value: string }[] } = {},
  ): EcrRepository {
    validateRepositoryName(name);
    if (this.repos.has(name)) throw ecrErrors.repositoryAlreadyExists(name, this.account);
    const repo: EcrRepository = {
      name,
      arn: `arn:aws:ecr:${this.region}:${this.account}:repository/${name}`,
      uri: `${this.registryHost}/${name}`,
      registryId: this.account,
      createdAt: this.now(),
      imageTagMutability: opts.imageTagMutability ?? 'MUTABLE',
      scanOnPush: opts.scanOnPush ?? false,
      encryptionType: opts.encryptionType ?? 'AES256',
      kmsKey: opts.kmsKey,
      tags: opts.tags ?? [],
      images: new Map(),
      tagIndex: new Map(),
    };
    this.repos.set(name, repo);
    this.events?.append('ecr.repository.created', { repositoryName: name });
    return repo;
  }

  getRepository(name: string): EcrRepository {
    const r = this.repos.get(name);
    if (!r) throw ecrErrors.repositoryNotFound(name, this.account);
    return r;
  }

  hasRepository(name: string): boolean {
    return this.repos.has(name);
  }

  listRepositories(): EcrRepository[] {
    return [...this.repos.values()];
  }

  deleteRepository(name: string, force = false): EcrRepository {
    const repo = this.getRepository(name);
    if (repo.images.size > 0 && !force) throw ecrErrors.repositoryNotEmpty(name, this.account);
    this.repos.delete(name);
    this.events?.append('ecr.repository.deleted', { repositoryName: name });
    return repo;
  }

  /**
   * Checks a put as ECR's PutImage would, changing nothing: the repository, the manifest JSON,
   * the media type, the tag, the digest asked for, an existing image with that tag
   * (ImageAlreadyExistsException, unless `push`: a `docker push` of what is there already is
   * a no-op) and tag immutability. Returns the digest and media type it would store.
   */
  checkPutImage(
    repoName: string,
    manifestJson: string,
    mediaType?: string,
    tag?: string,
    opts: { imageDigest?: string; push?: boolean } = {},
  ): { digest: string; mediaType: string; manifest: Record<string, unknown>; existing?: EcrImage } {
    const repo = this.getRepository(repoName);
    if (typeof manifestJson !== 'string' || manifestJson.length === 0) {
      throw ecrErrors.invalidParameter("Invalid parameter at 'imageManifest' failed to satisfy constraint: 'Member must have length greater than or equal to 1'");
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(manifestJson);
    } catch {
      throw ecrErrors.invalidParameter("Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'");
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw ecrErrors.invalidParameter("Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'");
    }
    const m = parsed as Record<string, unknown>;
    if (tag !== undefined) validateImageTag(tag);
    const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
    if (mediaType && declared && mediaType !== declared) {
      throw ecrErrors.invalidParameter(
        `Invalid parameter at 'ImageManifestMediaType' failed to satisfy constraint: 'Media type ${mediaType} does not match the mediaType field ${declared} of the manifest'`,
      );
    }
    const type = mediaType || declared || inferMediaType(m);
    const digest = manifestDigest(manifestJson);
    if (opts.imageDigest !== undefined && opts.imageDigest !== digest) throw ecrErrors.imageDigestDoesNotMatch(opts.imageDigest, digest);
    const existing = repo.images.get(digest);
    if (existing && !opts.push && (tag === undefined || existing.tags.includes(tag))) throw ecrErrors.imageAlreadyExists(digest, tag, repo.name, this.account);
    if (tag !== undefined) {
      const holder = repo.tagIndex.get(tag);
      if (holder && holder !== digest && repo.imageTagMutability === 'IMMUTABLE') throw ecrErrors.imageTagAlreadyExists(tag, holder, repo.name, this.account);
    }
    return { digest, mediaType: type, manifest: m, existing };
  }

  /**
   * Puts a manifest (and optionally a tag) as ECR's PutImage does. Returns the image and the
   * tag applied. Re-putting a manifest with a tag it already has → ImageAlreadyExistsException;
   * a tag held by another digest moves here (unless the repository is IMMUTABLE).
   *
   * With `registry` the manifest is in the run's registry (pushed, or put there first): the
   * image becomes registry-backed, a single manifest takes its platform from the facts (its
   * config blob), and putting what is there already is a no-op (as a repeated `docker push`).
   */
  putImage(
    repoName: string,
    manifestJson: string,
    mediaType?: string,
    tag?: string,
    opts: { imageDigest?: string; registry?: RegistryFacts } = {},
  ): EcrImage {
    const push = opts.registry !== undefined;
    const repo = this.getRepository(repoName);
    const { digest, mediaType: type, manifest: m, existing } = this.checkPutImage(repoName, manifestJson, mediaType, tag, { imageDigest: opts.imageDigest, push });
    let image = existing;
    if (!image) {
      image = {
        digest,
        manifest: manifestJson,
        mediaType: type,
        artifactMediaType: configMediaType(m, type),
        sizeInBytes: undefined,
        pushedAt: this.now(),
        tags: [],
        platforms: manifestPlatforms(m, type),
        source: push ? 'registry' : 'catalogue',
      };
      image.sizeInBytes = this.sizeOf(repo, m, type);
    }
    if (push) {
      image.source = 'registry';
      if (opts.registry?.platforms?.length && !isIndexMediaType(type)) image.platforms = opts.registry.platforms.map((p) => ({ ...p }));
    }
    if (tag !== undefined && !image.tags.includes(tag)) {
      const holder = repo.tagIndex.get(tag);
      if (holder && holder !== digest) {
        const prev = repo.images.get(holder);
        if (prev) prev.tags = prev.tags.filter((t) => t !== tag);
      }
      repo.tagIndex.set(tag, digest);
      image.tags.push(tag);
    }
    repo.images.set(digest, image);
    this.events?.append('ecr.image.put', { repositoryName: repo.name, imageDigest: digest, imageTag: tag, source: image.source });
    return image;
  }

  /** Digests of the image indexes in the repository that list `digest` among their manifests. */
  indexesReferencing(repoName: string, digest: string): string[] {
    const out: string[] = [];
    for (const img of this.getRepository(repoName).images.values()) {
      if (!isIndexMediaType(img.mediaType) || img.digest === digest) continue;
      try {
        const m = JSON.parse(img.manifest) as { manifests?: { digest?: string }[] };
        if (m.manifests?.some((e) => e?.digest === digest)) out.push(img.digest);
      } catch {
        /* stored manifests are JSON */
      }
    }
    return out;
  }

  /** Finds an image by tag and/or digest; undefined when absent or when they disagree. */
  findImage(repoName: string, id: ImageIdentifier): EcrImage | undefined {
    const repo = this.getRepository(repoName);
    if (id.imageTag !== undefined) {
      const d = repo.tagIndex.get(id.imageTag);
      if (!d || (id.imageDigest !== undefined && id.imageDigest !== d)) return undefined;
      return repo.images.get(d);
    }
    if (id.imageDigest !== undefined) return repo.images.get(id.imageDigest);
    return undefined;
  }

  listImages(repoName: string): EcrImage[] {
    return [...this.getRepository(repoName).images.values()];
  }

  /** Removes a tag (deleting the image once it has no tags) or a whole image by digest. */
  deleteImage(repoName: string, id: ImageIdentifier): ImageIdentifier[] | undefined {
    const repo = this.getRepository(repoName);
    const image = this.findImage(repoName, id);
    if (!image) return undefined;
    const removed: ImageIdentifier[] = [];
    if (id.imageTag !== undefined && id.imageDigest === undefined) {
      image.tags = image.tags.filter((t) => t !== id.imageTag);
      repo.tagIndex.delete(id.imageTag);
      removed.push({ imageDigest: image.digest, imageTag: id.imageTag });
      if (image.tags.length === 0) repo.images.delete(image.digest);
    } else {
      for (const t of image.tags) {
        repo.tagIndex.delete(t);
        removed.push({ imageDigest: image.digest, imageTag: t });
      }
      if (removed.length === 0) removed.push({ imageDigest: image.digest });
      repo.images.delete(image.digest);
    }
    this.events?.append('ecr.image.deleted', { repositoryName: repo.name, imageDigest: image.digest, imageTag: id.imageTag });
    return removed;
  }

  /**
   * Resolves a task definition's image (`<acct>.dkr.ecr.<region>.amazonaws.com/<repo>[:<tag>]`
   * or `...@sha256:<hex>`; no tag means `latest`). Throws an Error whose message is the
   * stoppedReason ECS gives for an image it cannot pull.
   */
  resolveImageUri(uri: string): ResolvedImage {
    const ref = parseImageReference(uri);
    const notFound = () => new Error(imageNotFoundReason(ref.canonical));
    if (ref.registry !== this.registryHost || !this.repos.has(ref.repository)) throw notFound();
    const id: ImageIdentifier = ref.digest ? { imageDigest: ref.digest } : { imageTag: ref.tag };
    const image = this.findImage(ref.repository, id);
    if (!image) throw notFound();
    return {
      registryId: this.account,
      repositoryName: ref.repository,
      tag: ref.digest ? undefined : ref.tag,
      digest: image.digest,
      manifest: image.manifest,
      mediaType: image.mediaType,
      platforms: image.platforms.map((p) => ({ ...p })),
      source: image.source,
    };
  }

  /**
   * ECR's imageSizeInBytes: a single manifest's layers (compressed, as pushed; the config blob
   * is not counted); an index or manifest list: the largest of the images it lists that this
   * repository holds (undefined when it holds none of them).
   */
  private sizeOf(repo: EcrRepository, m: Record<string, unknown>, mediaType: string): number | undefined {
    if (isIndexMediaType(mediaType)) {
      let max: number | undefined;
      for (const e of (m.manifests as { digest?: string }[] | undefined) ?? []) {
        const child = e?.digest ? repo.images.get(e.digest) : undefined;
        if (child?.sizeInBytes !== undefined) max = Math.max(max ?? 0, child.sizeInBytes);
      }
      return max;
    }
    const layers = Array.isArray(m.layers) ? (m.layers as { size?: unknown }[]) : [];
    return layers.reduce((a, l) => a + (typeof l?.size === 'number' ? l.size : 0), 0);
  }
}

function inferMediaType(m: Record<string, unknown>): string {
  if (m.schemaVersion === 1) return MediaTypes.dockerManifestV1;
  if (Array.isArray(m.manifests)) return MediaTypes.ociIndex;
  return MediaTypes.ociManifest;
}

function configMediaType(m: Record<string, unknown>, mediaType: string): string | undefined {
  if (isIndexMediaType(mediaType)) return undefined;
  const c = (m.config as { mediaType?: unknown } | undefined)?.mediaType;
  return typeof c === 'string' ? c : undefined;
}

export function validateRepositoryName(name: string): void {
  if (typeof name !== 'string' || name.length < 2 || name.length > 256 || !REPO_NAME.test(name)) {
    throw ecrErrors.invalidParameter(
      `Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''`,
    );
  }
}

export function validateImageTag(tag: string): void {
  if (typeof tag !== 'string' || !IMAGE_TAG.test(tag)) {
    throw ecrErrors.invalidParameter(`Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy regular expression '[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,299}''`);
  }
}

/**
 * Parses an image reference the way Docker does: registry host (default docker.io),
 * repository (docker.io single names get `library/`), `:tag` (default latest) or `@digest`.
 */
export function parseImageReference(uri: string): { registry: string; repository: string; tag: string; digest?: string; canonical: string } {
  let rest = uri.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let registry = 'docker.io';
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let tag = 'latest';
  const colon = rest.lastIndexOf(':');
  let explicitTag = false;
  if (colon > 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    explicitTag = true;
  }
  let repository = rest;
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  const canonical = digest
    ? `${registry}/${repository}${explicitTag ? `:${tag}` : ''}@${digest}`
    : `${registry}/${repository}:${tag}`;
  return { registry, repository, tag, digest, canonical };
}
