import { ECS_TASKS_TRUST_POLICY, type IamStore } from './store.ts';

/**
 * Seeds the manifest's `iam.roles` (names; `path/name` puts a role under a path): roles that
 * trust ecs-tasks.amazonaws.com, so GetRole finds them. Existing roles are left as they are.
 */
export function seedIam(store: IamStore, roles: string[]): void {
  for (const ref of roles) {
    const i = ref.lastIndexOf('/');
    const name = i >= 0 ? ref.slice(i + 1) : ref;
    const path = i >= 0 ? `/${ref.slice(0, i).replace(/^\/+/, '')}/` : '/';
    if (store.findRole(name)) continue;
    store.createRole({ RoleName: name, Path: path, AssumeRolePolicyDocument: ECS_TASKS_TRUST_POLICY, Description: 'seeded by the harness (manifest iam.roles)' });
  }
}
