/**
 * The ECR front's rules against a fake registry (what it was asked, what it answers): login,
 * ECR's repository and immutability rules on push, the store kept in step with each pushed
 * manifest, tags answered from the store, and the ECR API's PutImage / BatchDeleteImage going
 * through the registry. The real registry and engine: registry.contract.test.ts.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestContext } from '../protocol/types.ts';
import { buildHarnessImageIndex, manifestDigest, MediaTypes } from './manifest.ts';
import { createEcrProvider } from './provider.ts';
import { EcrRegistryFront } from './registry-front.ts';
import { EcrStore } from './store.ts';

const ACCOUNT = '210987654321';
const REGION = 'us-west-1';
const HOST = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com`;

const sha = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A registry that keeps manifests and blobs in maps and records every request. */
async function fakeRegistry() {
  const manifests = new Map<string, { body: Buffer; type: string }>(); // `${repo}@${digest}` and `${repo}:${tag}`
  const blobs = new Map<string, Buffer>();
  const calls: string[] = [];
  /** digests whose PUT is refused as the registry refuses a manifest whose blobs it lacks */
  const missingBlobs = new Set<string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      calls.push(`${req.method} ${req.url}`);
      res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
      const url = req.url ?? '/';
      if (url === '/v2/') return res.end('{}');
      const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)/.exec(url);
      if (!m || url.includes('/blobs/uploads/')) {
        res.statusCode = 202;
        res.setHeader('Location', `${url.replace(/\?.*$/, '')}fake-upload-id`);
        return res.end();
      }
      const [, repo, kind, ref] = m as unknown as [string, string, string, string];
      const key = decodeURIComponent(ref).startsWith('sha256:') ? `${repo}@${decodeURIComponent(ref)}` : `${repo}:${decodeURIComponent(ref)}`;
      if (kind === 'blobs') {
        const b = blobs.get(decodeURIComponent(ref));
        res.statusCode = b ? 200 : 404;
        return res.end(b ?? '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
      }
      if (req.method === 'PUT') {
        const d = sha(body);
        if (missingBlobs.has(d)) {
          res.statusCode = 400;
          return res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: { digest: 'sha256:' + '9'.repeat(64) } }] }));
        }
        const entry = { body, type: String(req.headers['content-type']) };
        manifests.set(`${repo}@${d}`, entry);
        manifests.set(key, entry);
        res.statusCode = 201;
        res.setHeader('Docker-Content-Digest', d);
        res.setHeader('Location', `/v2/${repo}/manifests/${d}`);
        return res.end();
      }
      if (req.method === 'DELETE') {
        const had = manifests.delete(key);
        res.statusCode = had ? 202 : 404;
        return res.end();
      }
      const e = manifests.get(key);
      if (!e) {
        res.statusCode = 404;
        return res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      }
      res.setHeader('Content-Type', e.type);
      res.setHeader('Docker-Content-Digest', sha(e.body));
      res.end(req.method === 'HEAD' ? undefined : e.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, manifests, blobs, calls, missingBlobs, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

async function setup(now?: () => Date) {
  const upstream = await fakeRegistry();
  const store = new EcrStore({ account: ACCOUNT, region: REGION, now });
  const front = new EcrRegistryFront({ store, upstream: upstream.url, host: HOST });
  store.attachRegistry(front);
  const server = http.createServer(front.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stops.push(upstream.close, () => new Promise<void>((r) => server.close(() => r())), () => front.close());
  const ctx: RequestContext = { requestId: 'r-1', region: REGION, account: ACCOUNT, signingName: 'ecr' };
  const ops = createEcrProvider(store).operations as Record<string, (i: any, c: RequestContext) => any>;
  const api = async (op: string, input: any = {}) => ops[op]!(input, ctx);
  // the password `aws ecr get-login-password` prints
  const token = Buffer.from((await api('GetAuthorizationToken')).authorizationData[0].authorizationToken, 'base64').toString().split(':')[1]!;
  const auth = `Basic ${Buffer.from(`AWS:${token}`).toString('base64')}`;
  const req = async (method: string, p: string, o: { body?: string; type?: string; auth?: string | null; accept?: string } = {}) => {
    const headers: Record<string, string> = {};
    if (o.auth !== null) headers.authorization = o.auth ?? auth;
    if (o.type) headers['content-type'] = o.type;
    if (o.accept) headers.accept = o.accept;
    const r = await fetch(`${base}${p}`, { method, headers, body: o.body });
    const text = await r.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: r.status, headers: r.headers, text, json };
  };
  return { upstream, store, front, api, req, token };
}

/** A Docker v2 image manifest whose config blob (in the fake registry) says linux/<arch>. */
function dockerImage(up: Awaited<ReturnType<typeof fakeRegistry>>, arch: string, seed: string, variant?: string) {
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', ...(variant ? { variant } : {}), config: { Cmd: ['/app'] }, rootfs: { type: 'layers', diff_ids: [seed] } }));
  up.blobs.set(sha(config), config);
  const manifest = JSON.stringify(
    {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: { mediaType: MediaTypes.dockerConfig, size: config.length, digest: sha(config) },
      layers: [
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 1000, digest: sha(`${seed}-1`) },
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 234, digest: sha(`${seed}-2`) },
      ],
    },
    null,
    3,
  );
  return { manifest, digest: manifestDigest(manifest) };
}

describe('ECR registry front: login', () => {
  it('answers /v2/ with 401 and a Basic challenge until the password GetAuthorizationToken issued is given', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const { req, store } = await setup(() => now);
    const none = await req('GET', '/v2/', { auth: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(`Basic realm="https://${HOST}/",service="ecr.amazonaws.com"`);
    expect(none.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(none.json.errors[0].code).toBe('UNAUTHORIZED');
    const wrong = await req('GET', '/v2/', { auth: `Basic ${Buffer.from('AWS:not-the-token').toString('base64')}` });
    expect(wrong.status).toBe(401);
    expect(wrong.json.errors[0]).toMatchObject({ code: 'DENIED', message: expect.stringContaining('aws ecr get-login-password') });
    const { password } = store.issueAuthorizationToken();
    const otherUser = await req('GET', '/v2/', { auth: `Basic ${Buffer.from(`root:${password}`).toString('base64')}` });
    expect(otherUser.status).toBe(401);
    expect((await req('GET', '/v2/')).status).toBe(200);
    now = new Date(now.getTime() + 12 * 3600 * 1000 + 1);
    const expired = await req('GET', '/v2/');
    expect(expired.status).toBe(401);
    expect(expired.json.errors[0].message).toBe('Your authorization token has expired. Reauthenticate and try again.');
  });
});

describe('ECR registry front: push', () => {
  it('refuses uploads and manifests for a repository ECR does not have, as ECR words it', async () => {
    const { req, upstream } = await setup();
    const up = await req('POST', '/v2/team/app/blobs/uploads/');
    expect(up.status).toBe(404);
    expect(up.json.errors[0]).toEqual({ code: 'NAME_UNKNOWN', message: `The repository with name 'team/app' does not exist in the registry with id '${ACCOUNT}'`, detail: null });
    const put = await req('PUT', '/v2/team/app/manifests/v1', { body: '{}', type: MediaTypes.dockerManifest });
    expect(put.json.errors[0].code).toBe('NAME_UNKNOWN');
    expect(upstream.calls).toEqual([]);
  });

  it('records a pushed manifest before answering: exact bytes, digest, media type, layer size, config platform, pushedAt', async () => {
    const { req, store, upstream, api } = await setup();
    await api('CreateRepository', { repositoryName: 'team/app' });
    const img = dockerImage(upstream, 'arm64', 'a', 'v8');
    // blobs and uploads go to the registry as they are (repository names with slashes too)
    const upload = await req('POST', '/v2/team/app/blobs/uploads/');
    expect(upload.status).toBe(202);
    expect(upload.headers.get('location')).toBe('/v2/team/app/blobs/uploads/fake-upload-id');
    const before = Date.now();
    const put = await req('PUT', '/v2/team/app/manifests/v1', { body: img.manifest, type: MediaTypes.dockerManifest });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(img.digest);
    expect(upstream.manifests.get(`team/app@${img.digest}`)?.body.toString()).toBe(img.manifest);
    const [d] = (await api('DescribeImages', { repositoryName: 'team/app' })).imageDetails;
    expect(d).toMatchObject({
      imageDigest: img.digest,
      imageTags: ['v1'],
      imageManifestMediaType: MediaTypes.dockerManifest,
      artifactMediaType: MediaTypes.dockerConfig,
      imageSizeInBytes: 1234,
    });
    expect(d.imagePushedAt.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect((await api('BatchGetImage', { repositoryName: 'team/app', imageIds: [{ imageTag: 'v1' }] })).images[0].imageManifest).toBe(img.manifest);
    expect(store.resolveImageUri(`${HOST}/team/app:v1`)).toMatchObject({ source: 'registry', platforms: [{ os: 'linux', architecture: 'arm64', variant: 'v8' }] });

    // the same push again (docker push of an unchanged image) is a no-op, not an error
    expect((await req('PUT', '/v2/team/app/manifests/v1', { body: img.manifest, type: MediaTypes.dockerManifest })).status).toBe(201);
    expect(store.listImages('team/app')).toHaveLength(1);
  });

  it('moves a tag in a MUTABLE repository and refuses it in an IMMUTABLE one without touching the registry', async () => {
    const { req, upstream, api } = await setup();
    await api('CreateRepository', { repositoryName: 'mut' });
    await api('CreateRepository', { repositoryName: 'frozen', imageTagMutability: 'IMMUTABLE' });
    const a = dockerImage(upstream, 'amd64', 'a');
    const b = dockerImage(upstream, 'amd64', 'b');
    for (const repo of ['mut', 'frozen']) expect((await req('PUT', `/v2/${repo}/manifests/latest`, { body: a.manifest, type: MediaTypes.dockerManifest })).status).toBe(201);

    expect((await req('PUT', '/v2/mut/manifests/latest', { body: b.manifest, type: MediaTypes.dockerManifest })).status).toBe(201);
    const ids = (await api('ListImages', { repositoryName: 'mut' })).imageIds;
    expect(ids).toEqual(expect.arrayContaining([{ imageDigest: a.digest }, { imageDigest: b.digest, imageTag: 'latest' }]));

    const calls = upstream.calls.length;
    const refused = await req('PUT', '/v2/frozen/manifests/latest', { body: b.manifest, type: MediaTypes.dockerManifest });
    expect(refused.status).toBe(400);
    expect(refused.json.errors[0]).toMatchObject({
      code: 'TAG_INVALID',
      message: "The image tag 'latest' already exists in the 'frozen' repository and cannot be overwritten because the repository is immutable.",
    });
    expect(upstream.calls.length).toBe(calls);
    // a push by digest (an index's child) and a new tag are fine in an immutable repository
    expect((await req('PUT', `/v2/frozen/manifests/${b.digest}`, { body: b.manifest, type: MediaTypes.dockerManifest })).status).toBe(201);
    expect((await req('PUT', '/v2/frozen/manifests/v2', { body: b.manifest, type: MediaTypes.dockerManifest })).status).toBe(201);
    expect((await api('DescribeImages', { repositoryName: 'frozen', imageIds: [{ imageTag: 'latest' }] })).imageDetails[0].imageDigest).toBe(a.digest);
  });

  it('records an OCI index with its platforms and the size of its largest image', async () => {
    const { req, upstream, api, store } = await setup();
    await api('CreateRepository', { repositoryName: 'multi' });
    const arm = dockerImage(upstream, 'arm64', 'arm');
    const amd = dockerImage(upstream, 'amd64', 'amd');
    const big = JSON.stringify({ ...JSON.parse(amd.manifest), layers: [{ mediaType: MediaTypes.ociLayer, size: 5000, digest: sha('big') }] });
    for (const m of [arm.manifest, big]) expect((await req('PUT', `/v2/multi/manifests/${manifestDigest(m)}`, { body: m, type: MediaTypes.dockerManifest })).status).toBe(201);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [
        { mediaType: MediaTypes.dockerManifest, digest: arm.digest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MediaTypes.dockerManifest, digest: manifestDigest(big), size: big.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    });
    expect((await req('PUT', '/v2/multi/manifests/v1', { body: index, type: MediaTypes.ociIndex })).status).toBe(201);
    const d = (await api('DescribeImages', { repositoryName: 'multi', imageIds: [{ imageTag: 'v1' }] })).imageDetails[0];
    expect(d).toMatchObject({ imageManifestMediaType: MediaTypes.ociIndex, imageSizeInBytes: 5000 });
    expect(d.artifactMediaType).toBeUndefined();
    expect(store.resolveImageUri(`${HOST}/multi:v1`).platforms).toEqual([
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'amd64' },
    ]);
    // the children are untagged images, as ECR lists them
    expect((await api('ListImages', { repositoryName: 'multi', filter: { tagStatus: 'UNTAGGED' } })).imageIds).toHaveLength(2);
  });
});

describe('ECR registry front: pull', () => {
  it('answers tags from the store and fetches the bytes by digest; tags/list is ECR\'s', async () => {
    const { req, upstream, api } = await setup();
    await api('CreateRepository', { repositoryName: 'app' });
    const a = dockerImage(upstream, 'amd64', 'a');
    await req('PUT', '/v2/app/manifests/v1', { body: a.manifest, type: MediaTypes.dockerManifest });
    upstream.calls.length = 0;
    const got = await req('GET', '/v2/app/manifests/v1', { accept: MediaTypes.dockerManifest });
    expect(got.status).toBe(200);
    expect(got.text).toBe(a.manifest);
    expect(got.headers.get('content-type')).toBe(MediaTypes.dockerManifest);
    expect(upstream.calls).toEqual([`GET /v2/app/manifests/${a.digest}`]);
    expect((await req('HEAD', '/v2/app/manifests/v1')).headers.get('docker-content-digest')).toBe(a.digest);

    // untagged in ECR (the registry still has the tag): not found, without asking the registry
    await api('PutImage', { repositoryName: 'app', imageManifest: a.manifest, imageTag: 'v2' });
    await api('BatchDeleteImage', { repositoryName: 'app', imageIds: [{ imageTag: 'v1' }] });
    upstream.calls.length = 0;
    const gone = await req('GET', '/v2/app/manifests/v1');
    expect(gone.status).toBe(404);
    expect(gone.json.errors[0].code).toBe('MANIFEST_UNKNOWN');
    expect(upstream.calls).toEqual([]);
    expect((await req('GET', '/v2/app/tags/list')).json).toEqual({ name: 'app', tags: ['v2'] });
  });
});

describe('ECR API through the registry', () => {
  it('PutImage puts the manifest at the registry under the new tag, and says LayersNotFound when its blobs are not there', async () => {
    const { req, upstream, api } = await setup();
    await api('CreateRepository', { repositoryName: 'app' });
    const a = dockerImage(upstream, 'amd64', 'a');
    await req('PUT', '/v2/app/manifests/sha-abc', { body: a.manifest, type: MediaTypes.dockerManifest });
    const manifest = (await api('BatchGetImage', { repositoryName: 'app', imageIds: [{ imageTag: 'sha-abc' }] })).images[0].imageManifest;
    const put = await api('PutImage', { repositoryName: 'app', imageManifest: manifest, imageTag: 'v2.15.0' });
    expect(put.image.imageId).toEqual({ imageDigest: a.digest, imageTag: 'v2.15.0' });
    expect(upstream.calls).toContain('PUT /v2/app/manifests/v2.15.0');
    await expect(api('PutImage', { repositoryName: 'app', imageManifest: manifest, imageTag: 'v2.15.0' })).rejects.toMatchObject({ code: 'ImageAlreadyExistsException' });

    const b = dockerImage(upstream, 'amd64', 'b');
    upstream.missingBlobs.add(b.digest);
    await expect(api('PutImage', { repositoryName: 'app', imageManifest: b.manifest, imageTag: 'v3' })).rejects.toMatchObject({
      code: 'LayersNotFoundException',
      message: expect.stringContaining('The specified layers could not be found'),
    });
    expect((await api('ListImages', { repositoryName: 'app' })).imageIds).toHaveLength(2);
  });

  it('PutImage of a catalogue image (a manifest without blobs) stays in the catalogue', async () => {
    const { upstream, api, store } = await setup();
    await api('CreateRepository', { repositoryName: 'stub' });
    const index = buildHarnessImageIndex({ platforms: ['linux/arm64'] });
    store.detachRegistry(store.registry!);
    store.putImage('stub', index, undefined, 'sha-abc');
    const front = new EcrRegistryFront({ store, upstream: upstream.url, host: HOST });
    store.attachRegistry(front);
    stops.push(() => front.close());
    upstream.calls.length = 0;
    await api('PutImage', { repositoryName: 'stub', imageManifest: index, imageTag: 'v1' });
    expect(upstream.calls).toEqual([]);
    expect(store.resolveImageUri(`${HOST}/stub:v1`).source).toBe('catalogue');
  });

  it('BatchDeleteImage deletes at the registry when the image goes, not for a tag it keeps others of; an index keeps its images', async () => {
    const { req, upstream, api } = await setup();
    await api('CreateRepository', { repositoryName: 'app' });
    const a = dockerImage(upstream, 'amd64', 'a');
    await req('PUT', '/v2/app/manifests/one', { body: a.manifest, type: MediaTypes.dockerManifest });
    await req('PUT', '/v2/app/manifests/two', { body: a.manifest, type: MediaTypes.dockerManifest });
    upstream.calls.length = 0;
    expect((await api('BatchDeleteImage', { repositoryName: 'app', imageIds: [{ imageTag: 'one' }] })).imageIds).toEqual([{ imageDigest: a.digest, imageTag: 'one' }]);
    expect(upstream.calls).toEqual([]);
    expect((await api('BatchDeleteImage', { repositoryName: 'app', imageIds: [{ imageTag: 'two' }] })).imageIds).toEqual([{ imageDigest: a.digest, imageTag: 'two' }]);
    expect(upstream.calls).toEqual([`DELETE /v2/app/manifests/${a.digest}`]);
    expect((await api('ListImages', { repositoryName: 'app' })).imageIds).toEqual([]);

    const b = dockerImage(upstream, 'arm64', 'b');
    await req('PUT', `/v2/app/manifests/${b.digest}`, { body: b.manifest, type: MediaTypes.dockerManifest });
    const index = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: MediaTypes.dockerManifest, digest: b.digest, size: 1, platform: { os: 'linux', architecture: 'arm64' } }] });
    await req('PUT', '/v2/app/manifests/multi', { body: index, type: MediaTypes.ociIndex });
    const refused = await api('BatchDeleteImage', { repositoryName: 'app', imageIds: [{ imageDigest: b.digest }] });
    expect(refused.failures[0]).toMatchObject({ failureCode: 'ImageReferencedByManifestList', failureReason: `Requested image referenced by manifest list: [${manifestDigest(index)}]` });
    const both = await api('BatchDeleteImage', { repositoryName: 'app', imageIds: [{ imageTag: 'multi' }, { imageDigest: b.digest }] });
    expect(both.failures).toEqual([]);
    expect(upstream.manifests.has(`app@${b.digest}`)).toBe(false);
  });

  it('a manifest DELETE at the registry endpoint deletes the image in ECR', async () => {
    const { req, upstream, api } = await setup();
    await api('CreateRepository', { repositoryName: 'app' });
    const a = dockerImage(upstream, 'amd64', 'a');
    await req('PUT', '/v2/app/manifests/v1', { body: a.manifest, type: MediaTypes.dockerManifest });
    expect((await req('DELETE', '/v2/app/manifests/v1')).status).toBe(400);
    expect((await req('DELETE', `/v2/app/manifests/${a.digest}`)).status).toBe(202);
    expect((await api('ListImages', { repositoryName: 'app' })).imageIds).toEqual([]);
    expect((await req('DELETE', `/v2/app/manifests/${a.digest}`)).status).toBe(404);
  });
});
