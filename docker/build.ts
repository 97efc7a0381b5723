/**
 * `npm run images`: builds the generic stub's linux/arm64 image offline (from npm's
 * node-linux-<arch> package and Debian packages), the one image every catalogue tag runs (its
 * behaviour is env given at run time). Cached by content hash: a second run with unchanged
 * inputs builds nothing. See docker/README.md.
 *
 *   tsx docker/build.ts                 build what is missing or stale (linux/arm64)
 *   tsx docker/build.ts --arch amd64    also, or only, other architectures (comma-separated)
 *   tsx docker/build.ts --list          print the stub image name per architecture
 *   tsx docker/build.ts --remove        remove every image labelled escher-harness=1
 */
import { stubDockerImage, type StubArch } from '../harness/runtime/stub-image.ts';
import { buildImages, ImageBuildError, removeHarnessImages } from '../harness/runtime/docker/images.ts';
import { buildSurrealServerImage } from '../harness/runtime/docker/surrealdb.ts';
import { createProgressRenderer } from '../harness/report/progress.ts';

const args = process.argv.slice(2);
const archArg = args.includes('--arch') ? args[args.indexOf('--arch') + 1] : undefined;
const arches = (archArg ?? 'arm64').split(',').map((a) => a.trim()).filter(Boolean);
try {
  const bad = arches.filter((a) => a !== 'arm64' && a !== 'amd64');
  if (bad.length) throw new ImageBuildError(`--arch takes arm64 and/or amd64, got ${bad.join(', ')}`);
  if (args.includes('--list')) {
    for (const arch of arches) console.log(`linux/${arch}\t ${stubDockerImage(arch as StubArch)}`);
  } else if (args.includes('--remove')) {
    const removed = await removeHarnessImages();
    console.log(`removed ${removed.length} image(s)`);
  } else {
    // progress: each build step a line with its elapsed time (on a terminal a live counter)
    const progress = createProgressRenderer(process.stdout);
    try {
      progress.step('images: checking what is missing or stale');
      const r = await buildImages({ log: (l) => progress.step(l), arches: arches as StubArch[] });
      const total = Object.keys(r.base).length + Object.keys(r.stub).length;
      progress.log(
        `images: ${r.builtCount} built, ${total - r.builtCount} up to date, in ${(r.durationMs / 1000).toFixed(1)} s ` +
          `(stub: ${Object.values(r.stub).map((s) => s!.image).join(', ')}; bases: ${Object.values(r.base).map((b) => b!.image).join(', ')})`,
      );
      // the embedded SurrealDB server for docker mode (used when the official image is not present)
      progress.step('images: the SurrealDB server image');
      const s = await buildSurrealServerImage({ log: (l) => progress.step(l) });
      progress.log(`images: ${s.image} ${s.built ? 'built' : 'up to date'} in ${(s.durationMs / 1000).toFixed(1)} s`);
    } finally {
      progress.finish();
    }
  }
} catch (e) {
  if (e instanceof ImageBuildError) {
    console.error(`images: ${e.message}`);
    process.exit(2);
  }
  throw e;
}
