/**
 * `harness init [--deploy-dir D] [--force] [--manifest PATH]`: drafts harness.yaml for a
 * deployment repo (default: the current directory) and prints what it found, what it guessed
 * and what is left to fill in. Never overwrites an existing manifest without --force.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { displayPath, draftManifest, formatDraftReport } from './init.ts';
import { MANIFEST_NAMES } from './load.ts';

export const INIT_USAGE = 'usage: harness init [--deploy-dir D] [--force] [--manifest PATH] [--stdout]';

export async function runInit(argv: string[], io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): Promise<number> {
  let values: { 'deploy-dir'?: string; force?: boolean; manifest?: string; stdout?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'deploy-dir': { type: 'string' },
        force: { type: 'boolean' },
        manifest: { type: 'string' },
        stdout: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    io.err(`harness init: ${(e as Error).message}\n${INIT_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.out(`${INIT_USAGE}\n  drafts harness.yaml from the deployment repo (default: the current directory); --stdout prints it instead of writing\n`);
    return 0;
  }
  const deployDir = path.resolve(values['deploy-dir'] ?? '.');
  if (!fs.existsSync(deployDir) || !fs.statSync(deployDir).isDirectory()) {
    io.err(`harness init: ${values['deploy-dir'] ?? '.'} is not a directory (--deploy-dir)\n`);
    return 2;
  }
  const manifestFile = values.manifest ? path.resolve(values.manifest) : path.join(deployDir, MANIFEST_NAMES[0]!);
  const existing = values.manifest ? (fs.existsSync(manifestFile) ? manifestFile : undefined) : MANIFEST_NAMES.map((n) => path.join(deployDir, n)).find((f) => fs.existsSync(f));
  if (existing && !values.force && !values.stdout) {
    io.err(`harness init: ${displayPath(existing)} already exists; pass --force to overwrite it\n`);
    return 1;
  }
  const draft = draftManifest(deployDir, manifestFile);
  if (values.stdout) {
    io.out(draft.text);
    io.err(formatDraftReport(draft, { manifestFile, deployDir, written: false }) + '\n');
    return 0;
  }
  fs.mkdirSync(path.dirname(manifestFile), { recursive: true });
  fs.writeFileSync(manifestFile, draft.text);
  io.out(formatDraftReport(draft, { manifestFile, deployDir, written: true }) + '\n');
  return 0;
}
