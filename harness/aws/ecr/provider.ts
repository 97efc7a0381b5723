import { AwsError } from '../protocol/errors.ts';
import type { ServiceProvider } from '../protocol/types.ts';
import { Params } from '../protocol/validate.ts';
import { ecrErrors, type ImageIdentifier } from './errors.ts';
import { DIGEST_PATTERN, validateImageTag, type EcrImage, type EcrRepository, type EcrStore, type ImageTagMutability } from './store.ts';

const V = 'InvalidParameterException';

function repositoryOut(r: EcrRepository) {
  return {
    repositoryArn: r.arn,
    registryId: r.registryId,
    repositoryName: r.name,
    repositoryUri: r.uri,
    createdAt: r.createdAt,
    imageTagMutability: r.imageTagMutability,
    imageScanningConfiguration: { scanOnPush: r.scanOnPush },
    encryptionConfiguration: { encryptionType: r.encryptionType, ...(r.kmsKey ? { kmsKey: r.kmsKey } : {}) },
  };
}

function imageDetailOut(store: EcrStore, repo: string, i: EcrImage) {
  return {
    registryId: store.account,
    repositoryName: repo,
    imageDigest: i.digest,
    imageTags: i.tags.length ? [...i.tags] : undefined,
    imageSizeInBytes: i.sizeInBytes,
    imagePushedAt: i.pushedAt,
    imageManifestMediaType: i.mediaType,
    artifactMediaType: i.artifactMediaType,
  };
}

/** Offset-based pagination with an opaque token. */
function paginate<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined, max = 1000): { page: T[]; nextToken?: string } {
  let start = 0;
  if (nextToken !== undefined) {
    const m = /^ecr-page-(\d+)$/.exec(Buffer.from(nextToken, 'base64').toString('utf8'));
    if (!m) throw ecrErrors.invalidParameter('Invalid parameter at \'nextToken\' failed to satisfy constraint: \'The token is not valid\'');
    start = Number(m[1]);
  }
  if (maxResults !== undefined && (maxResults < 1 || maxResults > max)) {
    throw ecrErrors.invalidParameter(`Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to ${max}'`);
  }
  const n = maxResults ?? max;
  const page = items.slice(start, start + n);
  const end = start + page.length;
  return { page, nextToken: end < items.length ? Buffer.from(`ecr-page-${end}`).toString('base64') : undefined };
}

function checkRegistry(store: EcrStore, p: Params, repo?: string): void {
  const rid = p.optStr('registryId');
  if (rid !== undefined && rid !== store.account) {
    throw repo ? ecrErrors.repositoryNotFound(repo, rid) : new AwsError(V, `Invalid parameter at 'registryId': registry '${rid}' is not this account's registry`);
  }
}

function imageIds(p: Params, name: string, required: boolean): ImageIdentifier[] | undefined {
  const list = p.optList<Record<string, unknown>>(name);
  if (list === undefined) {
    if (required) throw ecrErrors.invalidParameter(`${name} is required`);
    return undefined;
  }
  if (required && list.length === 0) {
    throw ecrErrors.invalidParameter(`Invalid parameter at '${name}' failed to satisfy constraint: 'Member must have length greater than or equal to 1'`);
  }
  return list.map((x) => {
    if (!x || typeof x !== 'object') throw ecrErrors.invalidParameter(`${name} must be a list of image identifiers`);
    const id: ImageIdentifier = {};
    if (typeof x.imageDigest === 'string') id.imageDigest = x.imageDigest;
    if (typeof x.imageTag === 'string') id.imageTag = x.imageTag;
    return id;
  });
}

function idKey(id: ImageIdentifier): string {
  return `${id.imageDigest ?? ''}|${id.imageTag ?? ''}`;
}

/** Checks one identifier for a batch call; returns the failure entry when it is malformed. */
function idFailure(id: ImageIdentifier) {
  if (id.imageDigest === undefined && id.imageTag === undefined) {
    return { imageId: id, failureCode: 'MissingDigestAndTag', failureReason: 'Invalid request parameters: both tag and digest cannot be null' };
  }
  if (id.imageDigest !== undefined && !DIGEST_PATTERN.test(id.imageDigest)) {
    return { imageId: id, failureCode: 'InvalidImageDigest', failureReason: "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'" };
  }
  if (id.imageTag !== undefined) {
    try {
      validateImageTag(id.imageTag);
    } catch {
      return { imageId: id, failureCode: 'InvalidImageTag', failureReason: 'Invalid request parameters: image tag is invalid' };
    }
  }
  return undefined;
}

/** Amazon ECR (JSON 1.1): repositories, images, tags. */
export function createEcrProvider(store: EcrStore): ServiceProvider {
  return {
    serviceName: 'ecr',
    signingNames: ['api.ecr', 'ecr'],
    protocol: 'json',
    targetPrefix: 'AmazonEC2ContainerRegistry_V20150921',
    validationErrorCode: V,
    operations: {
      CreateRepository(input) {
        const p = new Params(input, V);
        checkRegistry(store, p);
        const scan = p.optObj<{ scanOnPush?: boolean }>('imageScanningConfiguration');
        const enc = p.optObj<{ encryptionType?: string; kmsKey?: string }>('encryptionConfiguration');
        const tags = p.optList<{ Key: string; Value: string }>('tags');
        const mut = p.optEnum('imageTagMutability', ['MUTABLE', 'IMMUTABLE'] as const) as ImageTagMutability | undefined;
        const repo = store.createRepository(p.str('repositoryName'), {
          imageTagMutability: mut,
          scanOnPush: scan?.scanOnPush === true,
          encryptionType: enc?.encryptionType,
          kmsKey: enc?.kmsKey,
          tags,
        });
        return { repository: repositoryOut(repo) };
      },

      DescribeRepositories(input) {
        const p = new Params(input, V);
        const names = p.optStrList('repositoryNames');
        const rid = p.optStr('registryId');
        if (rid !== undefined && rid !== store.account) {
          if (names?.length) throw ecrErrors.repositoryNotFound(names[0]!, rid);
          return { repositories: [] };
        }
        const repos = names ? names.map((n) => store.getRepository(n)) : store.listRepositories();
        const { page, nextToken } = paginate(repos, p.optInt('maxResults'), p.optStr('nextToken'));
        return { repositories: page.map(repositoryOut), nextToken };
      },

      DeleteRepository(input) {
        const p = new Params(input, V);
        const name = p.str('repositoryName');
        checkRegistry(store, p, name);
        return { repository: repositoryOut(store.deleteRepository(name, p.optBool('force') === true)) };
      },

      DescribeImages(input) {
        const p = new Params(input, V);
        const repo = p.str('repositoryName');
        checkRegistry(store, p, repo);
        const ids = imageIds(p, 'imageIds', false);
        const filter = p.optObj<{ tagStatus?: string }>('filter');
        let images: EcrImage[];
        if (ids && ids.length) {
          images = [];
          const seen = new Set<string>();
          for (const id of ids) {
            const f = idFailure(id);
            if (f) throw ecrErrors.invalidParameter(f.failureReason);
            const img = store.findImage(repo, id);
            if (!img) throw ecrErrors.imageNotFound(id, repo, store.account);
            if (!seen.has(img.digest)) images.push(img);
            seen.add(img.digest);
          }
        } else {
          images = store.listImages(repo);
          if (filter?.tagStatus === 'TAGGED') images = images.filter((i) => i.tags.length > 0);
          if (filter?.tagStatus === 'UNTAGGED') images = images.filter((i) => i.tags.length === 0);
        }
        const { page, nextToken } = paginate(images, p.optInt('maxResults'), p.optStr('nextToken'));
        return { imageDetails: page.map((i) => imageDetailOut(store, repo, i)), nextToken };
      },

      ListImages(input) {
        const p = new Params(input, V);
        const repo = p.str('repositoryName');
        checkRegistry(store, p, repo);
        const tagStatus = p.optObj<{ tagStatus?: string }>('filter')?.tagStatus;
        const ids: ImageIdentifier[] = [];
        for (const i of store.listImages(repo)) {
          if (i.tags.length === 0) {
            if (tagStatus !== 'TAGGED') ids.push({ imageDigest: i.digest });
          } else if (tagStatus !== 'UNTAGGED') {
            for (const t of i.tags) ids.push({ imageDigest: i.digest, imageTag: t });
          }
        }
        const { page, nextToken } = paginate(ids, p.optInt('maxResults'), p.optStr('nextToken'));
        return { imageIds: page, nextToken };
      },

      BatchGetImage(input) {
        const p = new Params(input, V);
        const repo = p.str('repositoryName');
        checkRegistry(store, p, repo);
        const ids = imageIds(p, 'imageIds', true)!;
        store.getRepository(repo);
        const images: unknown[] = [];
        const failures: unknown[] = [];
        const seen = new Set<string>();
        for (const id of ids) {
          if (seen.has(idKey(id))) continue;
          seen.add(idKey(id));
          const f = idFailure(id);
          if (f) {
            failures.push(f);
            continue;
          }
          const img = store.findImage(repo, id);
          if (!img) {
            const tagged = id.imageTag !== undefined && id.imageDigest !== undefined && store.findImage(repo, { imageTag: id.imageTag });
            failures.push(
              tagged
                ? { imageId: id, failureCode: 'ImageTagDoesNotMatchDigest', failureReason: 'Invalid request parameters: given tag does not match the digest' }
                : { imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' },
            );
            continue;
          }
          images.push({
            registryId: store.account,
            repositoryName: repo,
            imageId: { imageDigest: img.digest, ...(id.imageTag !== undefined ? { imageTag: id.imageTag } : {}) },
            imageManifest: img.manifest,
            imageManifestMediaType: img.mediaType,
          });
        }
        return { images, failures };
      },

      PutImage(input) {
        const p = new Params(input, V);
        const repo = p.str('repositoryName');
        checkRegistry(store, p, repo);
        const manifest = p.optStr('imageManifest');
        if (manifest === undefined) throw ecrErrors.invalidParameter('imageManifest is required');
        const tag = p.optStr('imageTag');
        const mediaType = p.optStr('imageManifestMediaType');
        const imageDigest = p.optStr('imageDigest');
        // with a registry running, a manifest goes there first (its layers must be there) unless it
        // is a catalogue image (a manifest without blobs) being retagged
        const known = store.registry ? store.checkPutImage(repo, manifest, mediaType, tag, { imageDigest }).existing : undefined;
        const out = (img: EcrImage) => ({
          image: {
            registryId: store.account,
            repositoryName: repo,
            imageId: { imageDigest: img.digest, ...(tag !== undefined ? { imageTag: tag } : {}) },
            imageManifest: img.manifest,
            imageManifestMediaType: img.mediaType,
          },
        });
        if (store.registry && known?.source !== 'catalogue') return store.registry.putImage(repo, manifest, mediaType, tag, { imageDigest }).then(out);
        return out(store.putImage(repo, manifest, mediaType, tag, { imageDigest }));
      },

      BatchDeleteImage(input) {
        const p = new Params(input, V);
        const repo = p.str('repositoryName');
        checkRegistry(store, p, repo);
        const ids = imageIds(p, 'imageIds', true)!;
        store.getRepository(repo);
        const deleted: ImageIdentifier[] = [];
        const failures: unknown[] = [];
        const record = (id: ImageIdentifier, removed: ImageIdentifier[] | undefined) => {
          if (!removed) failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' });
          else deleted.push(...removed);
        };
        // one identifier after the other; through the registry (async) only for registry-backed images
        const from = (start: number): unknown => {
          for (let i = start; i < ids.length; i++) {
            const id = ids[i]!;
            const f = idFailure(id);
            if (f) {
              failures.push(f);
              continue;
            }
            const img = store.findImage(repo, id);
            if (!img) {
              record(id, undefined);
              continue;
            }
            // the image itself goes (by digest, or its last tag): not while an index lists it
            const goes = id.imageDigest !== undefined || img.tags.length <= 1;
            const lists = goes ? store.indexesReferencing(repo, img.digest) : [];
            if (lists.length) {
              failures.push({ imageId: id, failureCode: 'ImageReferencedByManifestList', failureReason: `Requested image referenced by manifest list: [${lists.join(', ')}]` });
              continue;
            }
            if (store.registry && img.source === 'registry') {
              return store.registry.deleteImage(repo, id).then((removed) => {
                record(id, removed);
                return from(i + 1);
              });
            }
            record(id, store.deleteImage(repo, id));
          }
          return { imageIds: deleted, failures };
        };
        return from(0);
      },

      GetAuthorizationToken(input) {
        const p = new Params(input, V);
        const ids = p.optStrList('registryIds') ?? [store.account];
        // one password for the call, as ECR's: the run's registry accepts it until it expires
        const { password, expiresAt } = store.issueAuthorizationToken();
        return {
          authorizationData: ids.map((id) => ({
            authorizationToken: Buffer.from(`AWS:${password}`).toString('base64'),
            expiresAt,
            proxyEndpoint: `https://${id}.dkr.ecr.${store.region}.amazonaws.com`,
          })),
        };
      },
    },
  };
}
