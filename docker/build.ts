/**
 * `npm run images`: builds the linux/arm64 (and, for the fault-amd64 tag, linux/amd64) stub
 * images offline, from npm's node-linux-<arch> package and Debian packages. Cached by content
 * hash: a second run with unchanged inputs builds nothing. See docker/README.md.
 *
 *   tsx docker/build.ts            build what is missing or stale
 *   tsx docker/build.ts --list     print the catalogue → image mapping
 *   tsx docker/build.ts --remove   remove every image labelled escher-harness=1
 */
import { imageCatalogue } from '../harness/runtime/catalogue.ts';
import { buildImages, ImageBuildError, removeHarnessImages, archOf } from '../harness/runtime/docker/images.ts';
import { buildSurrealServerImage } from '../harness/runtime/docker/surrealdb.ts';

const args = process.argv.slice(2);
try {
  if (args.includes('--list')) {
    for (const img of imageCatalogue()) console.log(`${img.repository}:${img.tag}\t linux/${archOf(img)}\t ${img.config.dockerImage}`);
  } else if (args.includes('--remove')) {
    const removed = await removeHarnessImages();
    console.log(`removed ${removed.length} image(s)`);
  } else {
    const r = await buildImages({ log: (l) => console.log(l) });
    const total = Object.keys(r.base).length + Object.keys(r.stubs).length + r.catalogue.length;
    console.log(
      `images: ${r.builtCount} built, ${total - r.builtCount} up to date, in ${(r.durationMs / 1000).toFixed(1)} s ` +
        `(bases: ${Object.values(r.base).map((b) => b.image).join(', ')})`,
    );
    // the embedded SurrealDB server for docker mode (used when the official image is not present)
    const s = await buildSurrealServerImage({ log: (l) => console.log(l) });
    console.log(`images: ${s.image} ${s.built ? 'built' : 'up to date'} in ${(s.durationMs / 1000).toFixed(1)} s`);
  }
} catch (e) {
  if (e instanceof ImageBuildError) {
    console.error(`images: ${e.message}`);
    process.exit(2);
  }
  throw e;
}
