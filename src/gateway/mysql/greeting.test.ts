import { describe, expect, it } from 'vitest';
import { Capability, MariadbCapability, decodeHandshakeV10, encodeHandshakeV10 } from '../../protocol/mysql/index.js';
import { MysqlConnectionIds } from './connection-ids.js';
import { STRIPPED_CAPS, ServerProfileCache, defaultProfile, gatewayGreeting, offeredCapabilities } from './greeting.js';

describe("the gateway's MySQL greeting", () => {
  it('offers TLS and never compression, LOCAL INFILE, query attributes or optional metadata, whatever the server offers', () => {
    const everything = 0xffffffff;
    const caps = offeredCapabilities({ ...defaultProfile('mysql'), capabilityFlags: everything });
    expect(caps & STRIPPED_CAPS).toBe(0);
    expect(caps & Capability.CLIENT_SSL).not.toBe(0);
    expect(caps & Capability.CLIENT_DEPRECATE_EOF).not.toBe(0);
  });

  it('repeats the server profile with its own scramble and connection id, and keeps only MariaDB capabilities that leave framing alone', () => {
    const profile = { serverVersion: '5.5.5-10.11.19-MariaDB', capabilityFlags: defaultProfile('mariadb').capabilityFlags, mariadbCapabilities: 0x3f, characterSet: 45, statusFlags: 2 };
    const a = decodeHandshakeV10(encodeHandshakeV10(gatewayGreeting(profile, 0x80000001)));
    const b = decodeHandshakeV10(encodeHandshakeV10(gatewayGreeting(profile, 0x80000002)));
    expect(a.serverVersion).toBe(profile.serverVersion);
    expect(a.connectionId).toBe(0x80000001);
    expect(a.authPluginData.equals(b.authPluginData)).toBe(false);
    expect(a.mariadbCapabilities).toBe(MariadbCapability.MARIADB_CLIENT_EXTENDED_METADATA);
  });

  it('asks for the server profile once, and learns from every greeting a login sees', async () => {
    let asked = 0;
    const cache = new ServerProfileCache('mariadb', async () => {
      asked++;
      return { ...defaultProfile('mariadb'), serverVersion: '5.5.5-10.11.19-MariaDB' };
    });
    expect(cache.known).toBe(false);
    await Promise.all([cache.ensure(), cache.ensure()]);
    await cache.ensure();
    expect(asked).toBe(1);
    expect(cache.current.serverVersion).toBe('5.5.5-10.11.19-MariaDB');
    cache.learn(decodeHandshakeV10(encodeHandshakeV10(gatewayGreeting({ ...cache.current, serverVersion: '5.5.5-10.11.20-MariaDB' }, 1))));
    expect(cache.current.serverVersion).toBe('5.5.5-10.11.20-MariaDB');
  });

  it('keeps greeting with a default while the server cannot be asked, and asks again later', async () => {
    let fail = true;
    const cache = new ServerProfileCache('mysql', async () => {
      if (fail) throw new Error('down');
      return { ...defaultProfile('mysql'), serverVersion: '8.0.36' };
    });
    await cache.ensure();
    expect(cache.known).toBe(false);
    expect(cache.current.serverVersion).toBe('8.0.0');
    fail = false;
    await cache.ensure();
    expect(cache.current.serverVersion).toBe('8.0.36');
  });
});

describe('MysqlConnectionIds', () => {
  it('hands out ids in the upper half of the range and maps them to server threads until released', () => {
    const ids = new MysqlConnectionIds();
    const a = ids.allocate();
    const b = ids.allocate();
    expect(a).not.toBe(b);
    expect(MysqlConnectionIds.isGatewayId(a)).toBe(true);
    expect(MysqlConnectionIds.isGatewayId(42)).toBe(false);
    expect(ids.lookup(a)).toBeUndefined();
    ids.bind(a, { instanceId: 'db1', threadId: 42 });
    expect(ids.lookup(a)).toEqual({ instanceId: 'db1', threadId: 42 });
    ids.release(a);
    ids.bind(a, { instanceId: 'db1', threadId: 43 });
    expect(ids.lookup(a)).toBeUndefined();
  });
});

describe('ServerProfileCache', () => {
  it('says why a profile login failed, and greets with the default meanwhile', async () => {
    const failures: unknown[] = [];
    const cache = new ServerProfileCache('mariadb', () => Promise.reject(new Error('server refused the master login')), undefined, (err) => failures.push(err));
    await cache.ensure();
    expect(failures.map(String)).toEqual(['Error: server refused the master login']);
    expect(cache.known).toBe(false);
    expect(cache.current).toEqual(defaultProfile('mariadb'));
  });

  it('stops waiting for a profile login that does not answer', async () => {
    const cache = new ServerProfileCache('mysql', () => new Promise(() => undefined));
    await cache.waitKnown(20);
    expect(cache.known).toBe(false);
  });
});
