// Analysis agent stub (port 8081, GET /health). Calls the context engine (CONTEXT_ENGINE_URL).
import { runService } from './lib/service.mjs';

await runService('analysis-agent');
