import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { EcrStore, parseImageReference, imagePlatformMismatchReason } from './store.ts';
import { buildHarnessImageIndex, buildHarnessImageManifest, HARNESS_PLATFORM_ANNOTATION, MediaTypes, manifestDigest } from './manifest.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';
const HOST = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com`;

function newStore() {
  return new EcrStore({ account: ACCOUNT, region: REGION });
}

describe('EcrStore', () => {
  it('creates repositories with the ECR ARN and URI', () => {
    const s = newStore();
    const r = s.createRepository('escher-gateway');
    expect(r.arn).toBe(`arn:aws:ecr:${REGION}:${ACCOUNT}:repository/escher-gateway`);
    expect(r.uri).toBe(`${HOST}/escher-gateway`);
    expect(() => s.createRepository('escher-gateway')).toThrow(expect.objectContaining({ code: 'RepositoryAlreadyExistsException' }));
    expect(() => s.createRepository('Bad_Name')).toThrow(expect.objectContaining({ code: 'InvalidParameterException' }));
  });

  it('addresses images by the sha256 of the exact manifest bytes', () => {
    const s = newStore();
    s.createRepository('app');
    const manifest = buildHarnessImageManifest({ platform: 'linux/arm64' });
    const img = s.putImage('app', manifest, undefined, 'v1');
    expect(img.digest).toBe(`sha256:${createHash('sha256').update(manifest).digest('hex')}`);
    expect(img.mediaType).toBe(MediaTypes.ociManifest);
    expect(img.artifactMediaType).toBe(MediaTypes.ociConfig);
    // the same JSON with different whitespace is a different image
    const spaced = JSON.stringify(JSON.parse(manifest), null, 2);
    expect(s.putImage('app', spaced, undefined, 'v1-spaced').digest).not.toBe(img.digest);
  });

  it('moves a tag to the new digest on retag, leaving the old image untagged', () => {
    const s = newStore();
    s.createRepository('app');
    const a = s.putImage('app', buildHarnessImageManifest({ platform: 'linux/arm64', annotations: { v: '1' } }), undefined, 'latest');
    const b = s.putImage('app', buildHarnessImageManifest({ platform: 'linux/arm64', annotations: { v: '2' } }), undefined, 'latest');
    expect(s.findImage('app', { imageTag: 'latest' })?.digest).toBe(b.digest);
    expect(s.findImage('app', { imageDigest: a.digest })?.tags).toEqual([]);
    // adding a second tag to an existing digest is allowed
    s.putImage('app', b.manifest, undefined, 'v2.15.0');
    expect(s.findImage('app', { imageDigest: b.digest })?.tags).toEqual(['latest', 'v2.15.0']);
  });

  it('rejects putting the same manifest and tag again (ImageAlreadyExistsException)', () => {
    const s = newStore();
    s.createRepository('app');
    const m = buildHarnessImageManifest({ platform: 'linux/amd64' });
    const img = s.putImage('app', m, undefined, 'v1');
    expect(() => s.putImage('app', m, undefined, 'v1')).toThrow(
      expect.objectContaining({ code: 'ImageAlreadyExistsException', message: expect.stringContaining(img.digest) }),
    );
    expect(() => s.putImage('app', m, undefined, 'v2', { imageDigest: 'sha256:' + '0'.repeat(64) })).toThrow(
      expect.objectContaining({ code: 'ImageDigestDoesNotMatchException' }),
    );
  });

  it('refuses to move a tag in an IMMUTABLE repository', () => {
    const s = newStore();
    s.createRepository('frozen', { imageTagMutability: 'IMMUTABLE' });
    s.putImage('frozen', buildHarnessImageManifest({ platform: 'linux/arm64', annotations: { v: '1' } }), undefined, 'v1');
    expect(() => s.putImage('frozen', buildHarnessImageManifest({ platform: 'linux/arm64', annotations: { v: '2' } }), undefined, 'v1')).toThrow(
      expect.objectContaining({ code: 'ImageTagAlreadyExistsException' }),
    );
  });

  it('resolves tag and digest URIs with the platforms of an image index', () => {
    const s = newStore();
    s.createRepository('escher-gateway');
    const index = buildHarnessImageIndex({ platforms: ['linux/arm64', 'linux/amd64'], annotations: { 'io.escher.service': 'gateway' } });
    const img = s.putImage('escher-gateway', index, undefined, 'v2.15.0');
    const byTag = s.resolveImageUri(`${HOST}/escher-gateway:v2.15.0`);
    expect(byTag).toMatchObject({
      repositoryName: 'escher-gateway',
      tag: 'v2.15.0',
      digest: img.digest,
      mediaType: MediaTypes.ociIndex,
      platforms: [
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'amd64' },
      ],
    });
    expect(byTag.manifest).toBe(index);
    const byDigest = s.resolveImageUri(`${HOST}/escher-gateway@${img.digest}`);
    expect(byDigest.digest).toBe(img.digest);
    expect(byDigest.tag).toBeUndefined();
  });

  it('reads a single manifest platform from the harness annotation, and Docker manifest lists', () => {
    const s = newStore();
    s.createRepository('app');
    s.putImage('app', buildHarnessImageManifest({ platform: 'linux/arm/v7' }), undefined, 'single');
    expect(s.resolveImageUri(`${HOST}/app:single`).platforms).toEqual([{ os: 'linux', architecture: 'arm', variant: 'v7' }]);
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifestList,
      manifests: [
        { mediaType: MediaTypes.dockerManifest, digest: 'sha256:' + 'a'.repeat(64), size: 10, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: MediaTypes.ociManifest, digest: 'sha256:' + 'b'.repeat(64), size: 10, platform: { architecture: 'unknown', os: 'unknown' } },
      ],
    });
    s.putImage('app', list, undefined, 'list');
    expect(s.resolveImageUri(`${HOST}/app:list`)).toMatchObject({ mediaType: MediaTypes.dockerManifestList, platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const bare = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: { size: 1 }, layers: [] });
    s.putImage('app', bare, undefined, 'bare');
    expect(s.resolveImageUri(`${HOST}/app`.concat(':bare')).platforms).toEqual([]);
  });

  it('throws the ECS CannotPullContainerError text for anything it cannot resolve', () => {
    const s = newStore();
    s.createRepository('app');
    s.putImage('app', buildHarnessImageManifest({ platform: 'linux/arm64' }), undefined, 'v1');
    for (const uri of [`${HOST}/app:v9`, `${HOST}/missing:v1`, `999999999999.dkr.ecr.${REGION}.amazonaws.com/app:v1`, `${HOST}/app@sha256:${'0'.repeat(64)}`]) {
      expect(() => s.resolveImageUri(uri)).toThrow(/^CannotPullContainerError: pull image manifest has been retried \d+ time\(s\): failed to resolve ref .+: not found$/);
    }
    expect(() => s.resolveImageUri(`${HOST}/app:v9`)).toThrow(
      `CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref ${HOST}/app:v9: ${HOST}/app:v9: not found`,
    );
    // no tag means latest, and docker hub names are normalized as docker does
    expect(() => s.resolveImageUri(`${HOST}/app`)).toThrow(`${HOST}/app:latest: not found`);
    expect(() => s.resolveImageUri('nginx')).toThrow('docker.io/library/nginx:latest: not found');
    expect(imagePlatformMismatchReason({ os: 'linux', architecture: 'arm64' })).toBe(
      "CannotPullContainerError: pull image manifest has been retried 7 time(s): image Manifest does not contain descriptor matching platform 'linux/arm64'",
    );
  });

  it('deletes a tag, then the image once untagged; force-deletes a non-empty repository', () => {
    const s = newStore();
    s.createRepository('app');
    const img = s.putImage('app', buildHarnessImageManifest({ platform: 'linux/arm64' }), undefined, 'a');
    s.putImage('app', img.manifest, undefined, 'b');
    expect(s.deleteImage('app', { imageTag: 'a' })).toEqual([{ imageDigest: img.digest, imageTag: 'a' }]);
    expect(s.listImages('app')).toHaveLength(1);
    s.deleteImage('app', { imageTag: 'b' });
    expect(s.listImages('app')).toHaveLength(0);
    s.putImage('app', img.manifest, undefined, 'c');
    expect(() => s.deleteRepository('app')).toThrow(expect.objectContaining({ code: 'RepositoryNotEmptyException' }));
    s.deleteRepository('app', true);
    expect(s.hasRepository('app')).toBe(false);
  });
});

describe('buildHarnessImageIndex', () => {
  it('is deterministic and well-formed', () => {
    const a = buildHarnessImageIndex({ platforms: ['linux/arm64'], annotations: { b: '2', a: '1' } });
    const b = buildHarnessImageIndex({ platforms: [{ os: 'linux', architecture: 'arm64' }], annotations: { a: '1', b: '2' } });
    expect(a).toBe(b);
    expect(manifestDigest(a)).toBe(manifestDigest(b));
    const idx = JSON.parse(a);
    expect(idx).toMatchObject({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, annotations: { a: '1', b: '2' } });
    expect(idx.manifests).toHaveLength(1);
    const entry = idx.manifests[0];
    expect(entry.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(entry.mediaType).toBe(MediaTypes.ociManifest);
    expect(entry.platform).toEqual({ os: 'linux', architecture: 'arm64' });
    // the entry points at the real digest and size of the matching child manifest
    const child = buildHarnessImageManifest({ platform: 'linux/arm64', annotations: { a: '1', b: '2' } });
    expect(entry.digest).toBe(manifestDigest(child));
    expect(entry.size).toBe(Buffer.byteLength(child));
    expect(JSON.parse(child).annotations[HARNESS_PLATFORM_ANNOTATION]).toBe('linux/arm64');
    // different annotations → different image
    expect(buildHarnessImageIndex({ platforms: ['linux/arm64'], annotations: { a: '2' } })).not.toBe(a);
  });
});

describe('parseImageReference', () => {
  it('splits registry, repository, tag and digest', () => {
    expect(parseImageReference(`${HOST}/team/app:1.2`)).toMatchObject({ registry: HOST, repository: 'team/app', tag: '1.2' });
    expect(parseImageReference(`${HOST}/app@sha256:abc`)).toMatchObject({ registry: HOST, repository: 'app', digest: 'sha256:abc' });
    expect(parseImageReference('localhost:5000/app')).toMatchObject({ registry: 'localhost:5000', repository: 'app', tag: 'latest' });
  });
});
