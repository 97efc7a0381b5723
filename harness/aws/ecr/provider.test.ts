import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { EcrStore } from './store.ts';
import { createEcrProvider } from './provider.ts';
import { buildHarnessImageIndex, buildHarnessImageManifest, MediaTypes } from './manifest.ts';
import { startTestEdge, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import type { RequestContext } from '../protocol/types.ts';

const ctx: RequestContext = { requestId: 'r-1', region: TEST_REGION, account: TEST_ACCOUNT, signingName: 'ecr' };

function setup() {
  const store = new EcrStore({ account: TEST_ACCOUNT, region: TEST_REGION });
  const ops = createEcrProvider(store).operations as Record<string, (i: any, c: RequestContext) => any>;
  return { store, call: (op: string, input: any = {}) => ops[op]!(input, ctx) };
}

describe('ECR provider operations', () => {
  it('creates, describes and deletes repositories', () => {
    const { call } = setup();
    const { repository } = call('CreateRepository', { repositoryName: 'escher-gateway' });
    expect(repository).toMatchObject({
      repositoryName: 'escher-gateway',
      registryId: TEST_ACCOUNT,
      repositoryUri: `${TEST_ACCOUNT}.dkr.ecr.${TEST_REGION}.amazonaws.com/escher-gateway`,
      imageTagMutability: 'MUTABLE',
    });
    call('CreateRepository', { repositoryName: 'escher-ui' });
    expect(call('DescribeRepositories').repositories.map((r: any) => r.repositoryName)).toEqual(['escher-gateway', 'escher-ui']);
    const p1 = call('DescribeRepositories', { maxResults: 1 });
    expect(p1.repositories).toHaveLength(1);
    const p2 = call('DescribeRepositories', { maxResults: 1, nextToken: p1.nextToken });
    expect(p2.repositories[0].repositoryName).toBe('escher-ui');
    expect(p2.nextToken).toBeUndefined();
    expect(() => call('DescribeRepositories', { repositoryNames: ['nope'] })).toThrow(
      expect.objectContaining({ code: 'RepositoryNotFoundException', message: `The repository with name 'nope' does not exist in the registry with id '${TEST_ACCOUNT}'` }),
    );
    expect(call('DeleteRepository', { repositoryName: 'escher-ui' }).repository.repositoryName).toBe('escher-ui');
  });

  it('puts images, retags by put-image, lists and describes them', () => {
    const { call } = setup();
    call('CreateRepository', { repositoryName: 'app' });
    const index = buildHarnessImageIndex({ platforms: ['linux/arm64'], annotations: { v: '1' } });
    const put = call('PutImage', { repositoryName: 'app', imageManifest: index, imageTag: 'sha-abc' });
    const digest = put.image.imageId.imageDigest;
    expect(put.image).toMatchObject({ imageId: { imageTag: 'sha-abc' }, imageManifestMediaType: MediaTypes.ociIndex });

    // the deploy-script retag: batch-get-image by tag, put-image with the same manifest and a new tag
    const got = call('BatchGetImage', { repositoryName: 'app', imageIds: [{ imageTag: 'sha-abc' }, { imageTag: 'nope' }, { imageDigest: 'sha256:' + 'f'.repeat(64) }] });
    expect(got.images).toHaveLength(1);
    expect(got.images[0]).toMatchObject({ registryId: TEST_ACCOUNT, repositoryName: 'app', imageId: { imageDigest: digest, imageTag: 'sha-abc' }, imageManifest: index });
    expect(got.failures).toEqual([
      { imageId: { imageTag: 'nope' }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' },
      { imageId: { imageDigest: 'sha256:' + 'f'.repeat(64) }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' },
    ]);
    call('PutImage', { repositoryName: 'app', imageManifest: got.images[0].imageManifest, imageTag: 'v2.15.0' });
    expect(() => call('PutImage', { repositoryName: 'app', imageManifest: index, imageTag: 'v2.15.0' })).toThrow(
      expect.objectContaining({ code: 'ImageAlreadyExistsException' }),
    );

    const other = buildHarnessImageManifest({ platform: 'linux/amd64' });
    call('PutImage', { repositoryName: 'app', imageManifest: other, imageTag: 'v2.15.0' }); // tag moves
    const details = call('DescribeImages', { repositoryName: 'app' }).imageDetails;
    expect(details).toHaveLength(2);
    const first = details.find((d: any) => d.imageDigest === digest);
    expect(first.imageTags).toEqual(['sha-abc']);
    expect(first.imagePushedAt).toBeInstanceOf(Date);
    const second = details.find((d: any) => d.imageDigest !== digest);
    expect(second).toMatchObject({ imageTags: ['v2.15.0'], imageManifestMediaType: MediaTypes.ociManifest, artifactMediaType: MediaTypes.ociConfig });
    expect(second.imageSizeInBytes).toBeGreaterThan(0);

    expect(call('ListImages', { repositoryName: 'app' }).imageIds).toHaveLength(2);
    expect(() => call('DescribeImages', { repositoryName: 'app', imageIds: [{ imageTag: 'gone' }] })).toThrow(
      expect.objectContaining({ code: 'ImageNotFoundException' }),
    );
    expect(call('BatchGetImage', { repositoryName: 'app', imageIds: [{ imageTag: 'sha-abc', imageDigest: second.imageDigest }] }).failures[0].failureCode).toBe(
      'ImageTagDoesNotMatchDigest',
    );
  });

  it('batch-deletes by tag and digest, and reports missing ones as failures', () => {
    const { call } = setup();
    call('CreateRepository', { repositoryName: 'app' });
    const m = buildHarnessImageManifest({ platform: 'linux/arm64' });
    const d = call('PutImage', { repositoryName: 'app', imageManifest: m, imageTag: 'a' }).image.imageId.imageDigest;
    const res = call('BatchDeleteImage', { repositoryName: 'app', imageIds: [{ imageDigest: d }, { imageTag: 'zzz' }, {}] });
    expect(res.imageIds).toEqual([{ imageDigest: d, imageTag: 'a' }]);
    expect(res.failures.map((f: any) => f.failureCode)).toEqual(['ImageNotFound', 'MissingDigestAndTag']);
    expect(() => call('DeleteRepository', { repositoryName: 'nope' })).toThrow(expect.objectContaining({ code: 'RepositoryNotFoundException' }));
  });

  it('gives an authorization token for the registry', () => {
    const { call } = setup();
    const [a] = call('GetAuthorizationToken').authorizationData;
    expect(Buffer.from(a.authorizationToken, 'base64').toString()).toMatch(/^AWS:/);
    expect(a.proxyEndpoint).toBe(`https://${TEST_ACCOUNT}.dkr.ecr.${TEST_REGION}.amazonaws.com`);
  });
});

describe('ECR through the edge', () => {
  let edge: Awaited<ReturnType<typeof startTestEdge>>;
  beforeAll(async () => {
    edge = await startTestEdge([createEcrProvider(new EcrStore({ account: TEST_ACCOUNT, region: TEST_REGION }))]);
  });
  afterAll(() => edge.stop());

  async function post(op: string, body: unknown) {
    const res = await fetch(edge.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `AmazonEC2ContainerRegistry_V20150921.${op}`,
        authorization: `AWS4-HMAC-SHA256 Credential=AKID/20250101/${TEST_REGION}/ecr/aws4_request, SignedHeaders=host, Signature=x`,
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as any };
  }

  it('serves JSON 1.1 with epoch-second dates and AWS error bodies', async () => {
    const created = await post('CreateRepository', { repositoryName: 'edge-repo' });
    expect(created.status).toBe(200);
    expect(typeof created.json.repository.createdAt).toBe('number');
    const dup = await post('CreateRepository', { repositoryName: 'edge-repo' });
    expect(dup.status).toBe(400);
    expect(dup.json.__type).toBe('RepositoryAlreadyExistsException');
    const bad = await post('PutImage', { repositoryName: 'edge-repo', imageManifest: '{not json', imageTag: 'x' });
    expect(bad.json.__type).toBe('InvalidParameterException');
  });
});
