import { describe, expect, it } from 'vitest';
import { encodeParameterStatus } from '../../protocol/postgres/index.js';
import { parameterStatusMessages } from './postgres-proxy-session.js';

/** [name, value] of each ParameterStatus message. */
function decoded(messages: Buffer[]): Array<[string, string]> {
  return messages.map((m) => {
    expect(m[0]).toBe(0x53); // 'S'
    const [name, value] = m.subarray(5, m.length - 1).toString('utf8').split('\0') as [string, string];
    return [name, value];
  });
}

describe('parameterStatusMessages', () => {
  const server = new Map([
    ['application_name', ''],
    ['client_encoding', 'UTF8'],
    ['server_version', '15.8'],
    ['TimeZone', 'UTC'],
  ]);

  it("tells each client the server's parameters with its own settings on top, whoever logged in before", () => {
    const first = parameterStatusMessages(server, new Map([['application_name', 'one'], ['timezone', 'Europe/Paris']]));
    const second = parameterStatusMessages(server, new Map([['application_name', 'two']]));
    const third = parameterStatusMessages(server, new Map());
    expect(decoded(first)).toEqual([['application_name', 'one'], ['client_encoding', 'UTF8'], ['server_version', '15.8'], ['TimeZone', 'Europe/Paris']]);
    expect(decoded(second)).toEqual([['application_name', 'two'], ['client_encoding', 'UTF8'], ['server_version', '15.8'], ['TimeZone', 'UTC']]);
    expect(decoded(third)).toEqual([...server]);
    // Byte for byte what encoding each one afresh gives.
    expect(Buffer.concat(third).equals(Buffer.concat([...server].map(([name, value]) => encodeParameterStatus({ name, value }))))).toBe(true);
  });

  it("follows the pool's server: another pool's parameters (a new login result) are never answered from the first one's", () => {
    expect(decoded(parameterStatusMessages(server, new Map()))).toContainEqual(['server_version', '15.8']);
    const after = new Map([...server, ['server_version', '15.9']]);
    expect(decoded(parameterStatusMessages(after, new Map()))).toContainEqual(['server_version', '15.9']);
    expect(decoded(parameterStatusMessages(server, new Map()))).toContainEqual(['server_version', '15.8']);
  });

  it('adds settings the server did not report, and reports nothing without a server login', () => {
    expect(decoded(parameterStatusMessages(new Map([['server_version', '15.8']]), new Map([['datestyle', 'ISO, DMY'], ['work_mem', '7MB']])))).toEqual([
      ['server_version', '15.8'],
      ['DateStyle', 'ISO, DMY'],
    ]);
    expect(decoded(parameterStatusMessages(undefined, new Map([['application_name', 'x']])))).toEqual([['application_name', 'x']]);
  });
});
