/**
 * Reads the SigV4 credential scope (`Credential=AKID/20240101/us-west-1/ecs/aws4_request`)
 * from the Authorization header or the presigned query. We do not verify signatures: the
 * CLI signs with fake credentials for real hostnames, and that is fine.
 */
export interface CredentialScope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

const SCOPE = /Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request/;

export function parseCredentialScope(authorization: string | undefined, url?: string): CredentialScope | undefined {
  let m = authorization ? SCOPE.exec(authorization) : null;
  if (!m && url) {
    const q = new URL(url, 'http://x').searchParams.get('X-Amz-Credential');
    if (q) m = SCOPE.exec(`Credential=${q}`);
  }
  if (!m) return undefined;
  return { accessKeyId: m[1]!, date: m[2]!, region: m[3]!, service: m[4]! };
}
