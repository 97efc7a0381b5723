/** `npm run schema`: writes harness.schema.json from the manifest's zod schema (a test keeps them equal). */
import fs from 'node:fs';
import path from 'node:path';
import { manifestJsonSchema } from './schema.ts';

export const SCHEMA_FILE = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../harness.schema.json');

export function schemaText(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  fs.writeFileSync(SCHEMA_FILE, schemaText());
  console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
}
