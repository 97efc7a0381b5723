import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FunctionSpec } from './types.ts';

export const TEST_REGION = 'eu-west-1';
export const TEST_ACCOUNT = '123456789012';

/**
 * Tests' and benches' function: its code dir `<base>/code/<name>` holds exactly `files`; the
 * rest is a plain nodejs20.x x86_64 function of TEST_ACCOUNT in TEST_REGION, unless `over` says.
 */
export function writeFunction(base: string, name: string, files: Record<string, string>, over: Partial<FunctionSpec> = {}): FunctionSpec {
  const codeDir = path.join(base, 'code', name);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(codeDir, f)), { recursive: true });
    writeFileSync(path.join(codeDir, f), text);
  }
  return {
    functionName: name,
    functionArn: `arn:aws:lambda:${TEST_REGION}:${TEST_ACCOUNT}:function:${name}`,
    version: '$LATEST',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    architecture: 'x86_64',
    memorySize: 256,
    timeout: 10,
    environment: {},
    codeDir,
    codeSha256: randomBytes(32).toString('base64'),
    logGroup: `/aws/lambda/${name}`,
    role: `arn:aws:iam::${TEST_ACCOUNT}:role/${name}-role`,
    ...over,
  };
}
