import { expect } from 'vitest';
import { ManifestError, parseManifest } from './load.ts';

/** The least manifest the schema accepts (tests add the section they are about). */
export const MINIMAL_MANIFEST = 'region: us-west-2\nvpc: { id: vpc-0b, cidr: 10.1.0.0/16, subnets: [{ id: subnet-0b, cidr: 10.1.1.0/24, az: us-west-2a }] }\n';

/** The ManifestError message a manifest text gets (fails the test when it parses). */
export function manifestError(text: string): string {
  try {
    parseManifest(text, 'repo/harness.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return (e as Error).message;
  }
  throw new Error('no error');
}
