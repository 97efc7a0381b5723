import type { SecretsManagerStore } from './store.ts';

/** The secrets CI would have created, with fake values (a mapping is stored as JSON). */
export function seedSecrets(store: SecretsManagerStore, secrets: Record<string, string | Record<string, unknown>>): void {
  for (const [name, value] of Object.entries(secrets)) store.createSecret(name, typeof value === 'string' ? value : JSON.stringify(value));
}
