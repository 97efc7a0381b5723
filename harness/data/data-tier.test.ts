import { describe, expect, it } from 'vitest';
import type { DnsLookupResult, DnsZoneSource } from '../network/dns-server.ts';
import { HostRecords, parseSurrealRootSecret } from './data-tier.ts';

const zone = { name: 'escher.internal', soaTtl: 15 };

/** A registry that knows one namespace (once created) with one Cloud Map name. */
function registry(): DnsZoneSource & { created: boolean } {
  return {
    created: false,
    resolve(fqdn, type) {
      const name = fqdn.replace(/\.$/, '').toLowerCase();
      if (!this.created || !(name === zone.name || name.endsWith(`.${zone.name}`))) return { kind: 'notInZone' };
      if (name === `asset-store.${zone.name}` && type === 'A') return { kind: 'answer', ttl: 10, records: ['10.0.1.5'], zone } as DnsLookupResult<string>;
      return { kind: 'nxdomain', zone };
    },
  };
}

describe('HostRecords: SurrealDB in the namespace zone next to Cloud Map names', () => {
  it('answers the host before and after the namespace exists; other names are the registry’s', () => {
    const inner = registry();
    const records = new HostRecords(inner);
    records.set('surrealdb.escher.internal.', '10.0.2.10');
    // before deploy-all creates the namespace: not in any zone (the DNS server's static hosts answer)
    expect(records.resolve('surrealdb.escher.internal', 'A')).toEqual({ kind: 'notInZone' });
    inner.created = true;
    expect(records.resolve('SurrealDB.escher.internal', 'A')).toEqual({ kind: 'answer', ttl: 10, records: ['10.0.2.10'], zone });
    expect(records.resolve('surrealdb.escher.internal', 'AAAA')).toEqual({ kind: 'answer', ttl: 10, records: [], zone });
    expect(records.resolve('asset-store.escher.internal', 'A')).toMatchObject({ kind: 'answer', records: ['10.0.1.5'] });
    expect(records.resolve('nope.escher.internal', 'A')).toEqual({ kind: 'nxdomain', zone });
    records.delete('surrealdb.escher.internal');
    expect(records.resolve('surrealdb.escher.internal', 'A')).toEqual({ kind: 'nxdomain', zone });
  });
});

describe('parseSurrealRootSecret', () => {
  it('reads {"username","password"} and refuses anything else clearly', () => {
    expect(parseSurrealRootSecret('{"username":"root","password":"pw"}')).toEqual({ username: 'root', password: 'pw' });
    expect(() => parseSurrealRootSecret('root:pw', 'team/db-root')).toThrow(/secret team\/db-root is not JSON/);
    expect(() => parseSurrealRootSecret('{"username":"root"}')).toThrow(/must hold/);
    expect(() => parseSurrealRootSecret('{"username":"","password":"x"}')).toThrow(/must hold/);
  });
});
