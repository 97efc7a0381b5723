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

describe('EcrStore and the registry', () => {
  it('issues registry passwords valid for 12 hours of its clock', () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const s = new EcrStore({ account: ACCOUNT, region: REGION, now: () => now });
    const t = s.issueAuthorizationToken();
    expect(t.expiresAt.getTime() - now.getTime()).toBe(12 * 3600 * 1000);
    expect(s.checkAuthorizationToken(t.password)).toBe('valid');
    expect(s.checkAuthorizationToken('harness-ecr-token-guessed')).toBe('unknown');
    now = new Date(t.expiresAt.getTime());
    expect(s.checkAuthorizationToken(t.password)).toBe('expired');
  });

  it('records a pushed image as registry-backed: a repeated push is a no-op, the config platform wins', () => {
    const s = newStore();
    s.createRepository('app');
    const m = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: { mediaType: MediaTypes.dockerConfig, size: 700, digest: 'sha256:' + 'c'.repeat(64) }, layers: [{ size: 100 }, { size: 23 }] });
    // checking changes nothing
    expect(s.checkPutImage('app', m, undefined, 'v1')).toMatchObject({ digest: manifestDigest(m), mediaType: MediaTypes.dockerManifest, existing: undefined });
    expect(s.listImages('app')).toEqual([]);
    const img = s.putImage('app', m, undefined, 'v1', { registry: { platforms: [{ os: 'linux', architecture: 'arm64' }] } });
    // ECR's size of an image: its layers as pushed (not the config)
    expect(img).toMatchObject({ source: 'registry', sizeInBytes: 123, platforms: [{ os: 'linux', architecture: 'arm64' }] });
    expect(s.putImage('app', m, undefined, 'v1', { registry: {} }).tags).toEqual(['v1']);
    expect(() => s.putImage('app', m, undefined, 'v1')).toThrow(expect.objectContaining({ code: 'ImageAlreadyExistsException' }));
    expect(s.resolveImageUri(`${HOST}/app:v1`).source).toBe('registry');
    // a catalogue image pushed for real becomes registry-backed
    const stub = s.putImage('app', buildHarnessImageManifest({ platform: 'linux/amd64' }), undefined, 'stub');
    expect(stub.source).toBe('catalogue');
    expect(s.putImage('app', stub.manifest, undefined, 'stub', { registry: {} }).source).toBe('registry');
  });

  it("sizes an index by the largest image it lists that the repository holds, and knows which indexes list an image", () => {
    const s = newStore();
    s.createRepository('app');
    const small = buildHarnessImageManifest({ platform: 'linux/arm64' });
    const big = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { size: 1 }, layers: [{ size: 9_000_000 }] });
    for (const m of [small, big]) s.putImage('app', m);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [
        { mediaType: MediaTypes.ociManifest, digest: manifestDigest(small), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MediaTypes.ociManifest, digest: manifestDigest(big), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    });
    expect(s.putImage('app', index, undefined, 'v1').sizeInBytes).toBe(9_000_000);
    expect(s.indexesReferencing('app', manifestDigest(big))).toEqual([manifestDigest(index)]);
    expect(s.indexesReferencing('app', manifestDigest(index))).toEqual([]);
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
