/**
 * Preloaded into Node environments with `--import`: bare specifiers the function's own code
 * cannot resolve (its code dir has no node_modules for them) are resolved again from the
 * runtime's layer dir, whose node_modules holds the AWS SDK v3 — as Lambda's Node runtimes
 * resolve `@aws-sdk/*` from a zip that does not bundle it. NODE_PATH does the same for
 * require(); ESM ignores NODE_PATH, hence this hook. The layer dir comes in
 * HARNESS_LAMBDA_LAYER_DIR.
 */
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const layer = process.env.HARNESS_LAMBDA_LAYER_DIR;
if (layer) {
  register('./sdk-resolve-hooks.mjs', import.meta.url, {
    data: { parentURL: pathToFileURL(path.join(layer, 'nodejs', 'layer-resolve-parent.mjs')).href },
  });
}
