import { describe, expect, it } from 'vitest';
import { Capability } from '../../protocol/mysql/index.js';
import { serverShape } from './mysql-server-link.js';

const BASE = (Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_MULTI_RESULTS | Capability.CLIENT_TRANSACTIONS) >>> 0;

describe('serverShape', () => {
  it('ignores what matters only at login: TLS, attributes, the database, the auth plugin', () => {
    const plain = serverShape({ capabilities: BASE, mariadbCapabilities: 0 }, 45, 1 << 24);
    const loginOnly = (Capability.CLIENT_SSL | Capability.CLIENT_CONNECT_ATTRS | Capability.CLIENT_CONNECT_WITH_DB | Capability.CLIENT_PLUGIN_AUTH | Capability.CLIENT_SECURE_CONNECTION) >>> 0;
    const other = serverShape({ capabilities: (BASE | loginOnly) >>> 0, mariadbCapabilities: 0 }, 45, 1 << 24);
    expect(other.key).toBe(plain.key);
    expect(other.capabilities & loginOnly).toBe(0);
  });

  it('tells apart what shapes responses: EOF or OK after rows, found rows, multi-statements, MariaDB metadata, the character set', () => {
    const plain = serverShape({ capabilities: BASE, mariadbCapabilities: 0 }, 45, 1 << 24).key;
    for (const cap of [Capability.CLIENT_DEPRECATE_EOF, Capability.CLIENT_FOUND_ROWS, Capability.CLIENT_MULTI_STATEMENTS, Capability.CLIENT_SESSION_TRACK]) {
      expect(serverShape({ capabilities: (BASE | cap) >>> 0, mariadbCapabilities: 0 }, 45, 1 << 24).key).not.toBe(plain);
    }
    expect(serverShape({ capabilities: BASE, mariadbCapabilities: 8 }, 45, 1 << 24).key).not.toBe(plain);
    expect(serverShape({ capabilities: BASE, mariadbCapabilities: 0 }, 224, 1 << 24).key).not.toBe(plain);
  });
});
