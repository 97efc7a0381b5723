import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  ECRClient,
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  PutImageCommand,
  BatchGetImageCommand,
  DescribeImagesCommand,
  ListImagesCommand,
  BatchDeleteImageCommand,
  GetAuthorizationTokenCommand,
  DeleteRepositoryCommand,
} from '@aws-sdk/client-ecr';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, sdkConfig, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { EcrStore } from './store.ts';
import { createEcrProvider } from './provider.ts';
import { buildHarnessImageIndex, manifestDigest } from './manifest.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[ecr contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

async function edgeWithStore() {
  const store = new EcrStore({ account: TEST_ACCOUNT, region: TEST_REGION });
  return { store, ...(await startTestEdge([createEcrProvider(store)])) };
}

describe.each(clis)('ECR with aws $major ($version)', (cli) => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  beforeAll(async () => {
    env = await edgeWithStore();
  });
  afterAll(() => env.stop());
  const aws = (...args: string[]) => runAws(cli, env.url, args);

  it('drives repositories, images and the retag flow of the deploy scripts', async () => {
    const created = await aws('ecr', 'create-repository', '--repository-name', 'escher-gateway', '--image-tag-mutability', 'MUTABLE');
    expect(created.code, created.stderr).toBe(0);
    expect(created.json.repository.repositoryUri).toBe(`${TEST_ACCOUNT}.dkr.ecr.${TEST_REGION}.amazonaws.com/escher-gateway`);

    // CI pushed an image as sha-abc (seeded through the store, as the harness does)
    const index = buildHarnessImageIndex({ platforms: ['linux/arm64'], annotations: { 'io.escher.service': 'gateway' } });
    env.store.putImage('escher-gateway', index, undefined, 'sha-abc');

    // deploy.sh: fetch the manifest as text, put it back with the release tag
    const manifest = await aws('ecr', 'batch-get-image', '--repository-name', 'escher-gateway', '--image-ids', 'imageTag=sha-abc', '--query', 'images[].imageManifest', '--output', 'text');
    expect(manifest.code, manifest.stderr).toBe(0);
    expect(manifest.stdout.trim()).toBe(index);
    const put = await aws('ecr', 'put-image', '--repository-name', 'escher-gateway', '--image-tag', 'v2.15.0', '--image-manifest', manifest.stdout.trim());
    expect(put.code, put.stderr).toBe(0);
    expect(put.json.image.imageId).toEqual({ imageDigest: manifestDigest(index), imageTag: 'v2.15.0' });

    const again = await aws('ecr', 'put-image', '--repository-name', 'escher-gateway', '--image-tag', 'v2.15.0', '--image-manifest', index);
    expect([254, 255]).toContain(again.code);
    expect(again.stderr).toContain('ImageAlreadyExistsException');

    const described = await aws('ecr', 'describe-images', '--repository-name', 'escher-gateway', '--image-ids', 'imageTag=v2.15.0');
    expect(described.code, described.stderr).toBe(0);
    expect(described.json.imageDetails[0]).toMatchObject({ imageDigest: manifestDigest(index), imageManifestMediaType: 'application/vnd.oci.image.index.v1+json' });
    expect(described.json.imageDetails[0].imageTags.sort()).toEqual(['sha-abc', 'v2.15.0']);

    const listed = await aws('ecr', 'list-images', '--repository-name', 'escher-gateway');
    expect(listed.json.imageIds).toHaveLength(2);

    const repos = await aws('ecr', 'describe-repositories');
    expect(repos.json.repositories.map((r: any) => r.repositoryName)).toEqual(['escher-gateway']);

    const missing = await aws('ecr', 'describe-repositories', '--repository-names', 'nope');
    expect([254, 255]).toContain(missing.code);
    expect(missing.stderr).toContain('RepositoryNotFoundException');
  });

  it('deletes images and repositories, and logs in', async () => {
    const del = await aws('ecr', 'batch-delete-image', '--repository-name', 'escher-gateway', '--image-ids', 'imageTag=sha-abc', 'imageTag=gone');
    expect(del.code, del.stderr).toBe(0);
    expect(del.json.imageIds).toHaveLength(1);
    expect(del.json.failures[0].failureCode).toBe('ImageNotFound');
    const pw = await aws('ecr', 'get-login-password');
    expect(pw.code, pw.stderr).toBe(0);
    expect(pw.stdout.trim()).toMatch(/^harness-ecr-token-/);
    const rm = await aws('ecr', 'delete-repository', '--repository-name', 'escher-gateway', '--force');
    expect(rm.code, rm.stderr).toBe(0);
    expect(env.store.hasRepository('escher-gateway')).toBe(false);
  });
});

describe('ECR with @aws-sdk/client-ecr', () => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  let ecr: ECRClient;
  beforeAll(async () => {
    env = await edgeWithStore();
    ecr = new ECRClient(sdkConfig(env.url));
  });
  afterAll(async () => {
    ecr.destroy();
    await env.stop();
  });

  it('drives every operation and sees modeled errors by name', async () => {
    const { repository } = await ecr.send(new CreateRepositoryCommand({ repositoryName: 'app' }));
    expect(repository?.createdAt).toBeInstanceOf(Date);
    const index = buildHarnessImageIndex({ platforms: ['linux/arm64', 'linux/amd64'] });
    const put = await ecr.send(new PutImageCommand({ repositoryName: 'app', imageManifest: index, imageTag: 'v1' }));
    expect(put.image?.imageId?.imageDigest).toBe(manifestDigest(index));
    const got = await ecr.send(new BatchGetImageCommand({ repositoryName: 'app', imageIds: [{ imageTag: 'v1' }, { imageTag: 'v0' }] }));
    expect(got.images?.[0]?.imageManifest).toBe(index);
    expect(got.failures?.[0]).toMatchObject({ failureCode: 'ImageNotFound', imageId: { imageTag: 'v0' } });
    const details = await ecr.send(new DescribeImagesCommand({ repositoryName: 'app' }));
    expect(details.imageDetails?.[0]?.imagePushedAt).toBeInstanceOf(Date);
    expect((await ecr.send(new ListImagesCommand({ repositoryName: 'app' }))).imageIds).toEqual([{ imageDigest: manifestDigest(index), imageTag: 'v1' }]);
    expect((await ecr.send(new DescribeRepositoriesCommand({}))).repositories?.map((r) => r.repositoryName)).toEqual(['app']);
    const auth = await ecr.send(new GetAuthorizationTokenCommand({}));
    expect(auth.authorizationData?.[0]?.expiresAt).toBeInstanceOf(Date);
    const del = await ecr.send(new BatchDeleteImageCommand({ repositoryName: 'app', imageIds: [{ imageTag: 'v1' }] }));
    expect(del.imageIds).toHaveLength(1);

    await expect(ecr.send(new PutImageCommand({ repositoryName: 'nope', imageManifest: index }))).rejects.toMatchObject({
      name: 'RepositoryNotFoundException',
      $metadata: { httpStatusCode: 400 },
    });
    await ecr.send(new PutImageCommand({ repositoryName: 'app', imageManifest: index, imageTag: 'v1' }));
    await expect(ecr.send(new DeleteRepositoryCommand({ repositoryName: 'app' }))).rejects.toMatchObject({ name: 'RepositoryNotEmptyException' });
    await ecr.send(new DeleteRepositoryCommand({ repositoryName: 'app', force: true }));
  });
});
