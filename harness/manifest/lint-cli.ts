/**
 * `harness lint [--deploy-dir D] [--manifest PATH]`: static checks of the deployment repo
 * against its manifest (manifest/lint.ts), printed as a table; exit 1 on any FAIL.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { lintRepo, formatFindings } from './lint.ts';
import { DEFAULT_DEPLOY_DIR, MANIFEST_NAMES, ManifestError, loadManifest } from './load.ts';

export const LINT_USAGE = 'usage: harness lint [--deploy-dir D] [--manifest PATH]';

export async function runLint(argv: string[], io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): Promise<number> {
  let values: { 'deploy-dir'?: string; manifest?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { 'deploy-dir': { type: 'string' }, manifest: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    io.err(`harness lint: ${(e as Error).message}\n${LINT_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.out(`${LINT_USAGE}\n  static checks of the deployment repo against harness.yaml (default: the current directory when it has one)\n`);
    return 0;
  }
  const deployDir = values['deploy-dir'] ? path.resolve(values['deploy-dir']) : MANIFEST_NAMES.some((n) => fs.existsSync(n)) ? process.cwd() : DEFAULT_DEPLOY_DIR;
  if (!fs.existsSync(deployDir) || !fs.statSync(deployDir).isDirectory()) {
    io.err(`harness lint: ${deployDir} is not a directory (--deploy-dir)\n`);
    return 2;
  }
  let manifest;
  try {
    manifest = loadManifest(deployDir, values.manifest);
  } catch (e) {
    if (e instanceof ManifestError) { io.err(`harness lint: ${e.message}\n`); return 2; }
    throw e;
  }
  const findings = lintRepo(deployDir, manifest);
  io.out(`lint ${deployDir}\n${formatFindings(findings)}\n`);
  return findings.some((x) => x.result === 'FAIL') ? 1 : 0;
}
