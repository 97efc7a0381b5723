import { EventEmitter } from 'node:events';
import type { SgGroup } from './sg-rules.ts';

/** Security groups held in memory, for fabric tests and benchmarks: edit `groups`, then `changed()`. */
export class MemorySgs {
  groups = new Map<string, SgGroup>();
  private readonly ee = new EventEmitter();
  listSecurityGroups(): SgGroup[] {
    return [...this.groups.values()].map((g) => structuredClone(g));
  }
  onRulesChanged(l: () => void): () => void {
    this.ee.on('c', l);
    return () => this.ee.off('c', l);
  }
  changed(): void {
    this.ee.emit('c');
  }
}
