/**
 * Preloaded into Node environments of ES module handlers with `--import`. Two things Lambda's
 * file system gives for free and a harness run dir does not:
 * - bare specifiers the function's code cannot resolve are resolved again from the runtime's
 *   layer dir, whose node_modules holds the AWS SDK v3 (as Lambda's Node runtimes resolve
 *   `@aws-sdk/*` from a zip that does not bundle it; NODE_PATH does it for require(), ESM
 *   ignores NODE_PATH);
 * - a bare specifier imported by the function's own code never resolves to a package outside
 *   its code dir other than the SDK (on Lambda /var/task has no parent with node_modules; here
 *   the code dir may sit under a repo whose node_modules would otherwise answer).
 * The layer dir comes in HARNESS_LAMBDA_LAYER_DIR, the code dir in LAMBDA_TASK_ROOT.
 */
import fs from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const layer = process.env.HARNESS_LAMBDA_LAYER_DIR;
const taskRoot = process.env.LAMBDA_TASK_ROOT;
const dirUrl = (p) => {
  try {
    return pathToFileURL(fs.realpathSync(p)).href.replace(/\/?$/, '/');
  } catch {
    return undefined;
  }
};
if (layer) {
  register('./sdk-resolve-hooks.mjs', import.meta.url, {
    data: {
      parentURL: pathToFileURL(path.join(layer, 'nodejs', 'layer-resolve-parent.mjs')).href,
      taskRootURL: taskRoot ? dirUrl(taskRoot) : undefined,
      sdkURL: dirUrl(path.join(layer, 'nodejs', 'node_modules', '@aws-sdk')),
    },
  });
}
