import { AwsEdge } from './server.ts';
import type { ServiceProvider } from './protocol/types.ts';

export const TEST_ACCOUNT = '123456789012';
export const TEST_REGION = 'us-west-1';

/** Starts an AWS edge on a free loopback port with the given providers (tests only). */
export async function startTestEdge(providers: ServiceProvider[]): Promise<{ url: string; edge: AwsEdge; stop: () => Promise<void> }> {
  const edge = new AwsEdge({ account: TEST_ACCOUNT, defaultRegion: TEST_REGION, providers, port: 0 });
  const url = await edge.start();
  return { url, edge, stop: () => edge.stop() };
}

/** Credentials and endpoint for @aws-sdk/client-* in tests. */
export function sdkConfig(url: string) {
  return {
    endpoint: url,
    region: TEST_REGION,
    credentials: { accessKeyId: 'AKIAHARNESSLOCAL0000', secretAccessKey: 'harness-local-secret-key-not-real' },
    maxAttempts: 1,
    // DiscoverInstances has the host prefix 'data-': keep every call on the edge's address
    disableHostPrefix: true,
  };
}
