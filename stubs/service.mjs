// The generic stub service: runs any container definition, driven only by its environment
// (the contract is in lib/contract.mjs). It listens on every STUB_PORTS port, answers its
// STUB_HEALTH_PATHS, /version and /api/trace (through STUB_DEPENDENCIES), and takes on the roles
// its environment gives it: the data API (STUB_DATA_URL_ENV), analysis through the Anthropic
// Messages API (STUB_ANTHROPIC_KEY_ENV), the ALB's claims (STUB_ALB); data and analysis requests
// it does not serve itself go on to its dependencies (lib/roles.mjs).
import { readContract } from './lib/contract.mjs';
import { roles } from './lib/roles.mjs';
import { runService } from './lib/service.mjs';

const env = process.env;
/** @type {import('./lib/contract.mjs').StubContract | undefined} */
let contract;
try {
  contract = readContract(env);
} catch (err) {
  process.stderr.write(`FATAL ${env.STUB_SERVICE || env.HARNESS_CONTAINER_NAME || 'service'}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
if (contract) await runService(contract, env, (c, out) => roles(c, env, out));
