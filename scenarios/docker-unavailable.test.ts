import { describe, it } from 'vitest';

/**
 * Stands in for the scenario files in the `scenario-docker` project when docker mode cannot run
 * here (vitest.config.ts checks dockerModeAvailable() and includes only this file): one
 * printed line saying why, one skipped suite — never a silent pass.
 */
const reason = process.env.HARNESS_DOCKER_UNAVAILABLE || 'docker mode unavailable';
console.log(`scenario-docker SKIPPED (every scenario in docker mode): ${reason}`);

describe.skip(`scenarios in docker mode (skipped: ${reason})`, () => {
  it('needs a Docker engine, linux/arm64 execution and the stub images (harness doctor)', () => {});
});
