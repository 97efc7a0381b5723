/**
 * The generic stub (stubs/service.mjs) as an image: its command, and the name of the one local
 * Docker image that carries it (built offline by docker/build.ts → runtime/docker/images.ts).
 * Every catalogue image runs this one stub; what kind of release it is (STUB_VERSION,
 * STUB_FAULT …) is image ENV and what it serves (STUB_PORTS, STUB_HEALTH_PATHS, …) is task ENV,
 * both passed when the container starts, so one image serves every repository and tag.
 *
 * The name is content-hashed: `escher-harness/stub:<12 hex>-<arch>`, the hash of the stub's
 * sources (everything under stubs/ but tests), the architecture and the recipe version. The same
 * sources give the same name on every machine; a changed stub gives a new name. (The image's
 * base — Node, Debian packages — is not in the name: images.ts rebuilds the image under the same
 * name when its base changed, as its labels record.)
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageConfig } from './types.ts';

/** The generic stub's entry point, relative to the harness root (and to /app in the image). */
export const STUB_ENTRY = 'stubs/service.mjs';
/** The command every stub image runs. */
export const STUB_CMD: readonly string[] = ['node', STUB_ENTRY];
/** Bump when the way the stub image is assembled changes in a way its sources do not show. */
export const STUB_IMAGE_RECIPE = 1;
/** The local image repository prefix of everything the harness builds. */
export const IMAGE_NAMESPACE = 'escher-harness';

export type StubArch = 'arm64' | 'amd64';

/** The harness root (where package.json lives). */
const ROOT = path.resolve(fileURLToPath(new URL('../../', import.meta.url)));

/** The stub's sources that go into its image: every file under stubs/ but tests, in a stable order. */
export function stubSourceFiles(root = ROOT): { rel: string; abs: string }[] {
  const out: { rel: string; abs: string }[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) walk(abs);
      else if (e.isFile() && !/\.test\.[cm]?[jt]s$/.test(e.name)) out.push({ rel: path.relative(root, abs).split(path.sep).join('/'), abs });
    }
  };
  walk(path.join(root, 'stubs'));
  return out;
}

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

let sourcesHash: string | undefined;
/** sha256 over the stub's sources (paths and contents); computed once per process. */
export function stubSourcesHash(): string {
  sourcesHash ??= sha(stubSourceFiles().map((f) => `${f.rel}\0${sha(fs.readFileSync(f.abs))}`).join('\n'));
  return sourcesHash;
}

/** The local Docker image of the generic stub for an architecture (default linux/arm64, Fargate's). */
export function stubDockerImage(arch: StubArch = 'arm64', namespace = IMAGE_NAMESPACE): string {
  const hash = sha(JSON.stringify({ recipe: STUB_IMAGE_RECIPE, arch, entry: STUB_ENTRY, sources: stubSourcesHash() }));
  return `${namespace}/stub:${hash.slice(0, 12)}-${arch}`;
}

/** An ImageConfig that runs the generic stub with this image ENV (for tests, benchmarks and the catalogue). */
export function stubImage(env: Record<string, string> = {}, arch: StubArch = 'arm64'): ImageConfig {
  return { cmd: [...STUB_CMD], env: { ...env }, dockerImage: stubDockerImage(arch) };
}
