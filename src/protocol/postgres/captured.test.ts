import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutAt, everySplit, typedFailure } from '../common/test-support.js';
import { decodeBackendMessage } from './backend/index.js';
import { FrameDecoder } from './frame-decoder.js';
import { StartupDecoder } from './startup.js';
import { PG15_NO_SUCH_DB, PG15_TRUST_LOGIN, PSQL_SSL_REQUEST, PSQL_STARTUP } from './test-fixtures/captured.js';
import { UpstreamLogin, type UpstreamLoginStep } from './upstream-login.js';

function login(chunks: Buffer[]): UpstreamLoginStep {
  const l = new UpstreamLogin({ user: 'postgres', database: 'postgres' });
  l.start();
  const frames = new FrameDecoder({ maxMessageBytes: 1 << 20 });
  let last: UpstreamLoginStep = {};
  for (const c of chunks) for (const f of frames.feed(c)) last = l.receive(f);
  return last;
}

describe('captured traffic', () => {
  it('decodes psql 15 SSLRequest and StartupMessage', () => {
    const d = new StartupDecoder();
    d.push(PSQL_SSL_REQUEST);
    expect(d.next()).toEqual({ type: 'SSLRequest' });
    expect(d.pendingBytes()).toBe(0);
    d.push(PSQL_STARTUP);
    expect(d.next()).toMatchObject({
      type: 'StartupMessage',
      protocolVersion: { major: 3, minor: 0 },
      user: 'alice',
      database: 'db',
      params: new Map([
        ['user', 'alice'],
        ['database', 'db'],
        ['application_name', 'psql'],
      ]),
    });
  });

  it('runs the PostgreSQL 15 trust login through UpstreamLogin at every split', () => {
    const whole = login([PG15_TRUST_LOGIN]).done!;
    expect(whole.parameters.size).toBe(13);
    expect(whole.parameters.get('server_version')).toBe('15.20 (Debian 15.20-0+deb12u1)');
    expect(whole.backendKey).toEqual({ processId: 0x7f7b, secretKey: Buffer.from('6b1f5347', 'hex') });
    expect(whole.transactionStatus).toBe('I');
    for (const { label, chunks } of everySplit(PG15_TRUST_LOGIN)) expect(login(chunks).done, label).toEqual(whole);
  });

  it('decodes the PostgreSQL 15 ErrorResponse for an unknown database', () => {
    expect(login([PG15_NO_SUCH_DB]).error).toEqual({
      severity: 'FATAL',
      severityNonLocalized: 'FATAL',
      code: '3D000',
      message: 'database "no_such_db" does not exist',
      file: 'postinit.c',
      line: '948',
      routine: 'InitPostgres',
    });
  });

  it('fuzz: mutated captured server bytes only raise IamdbError', () => {
    const seeds = [PG15_TRUST_LOGIN, PG15_NO_SUCH_DB];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat({ max: 900 }), { maxLength: 4 }),
        (seed, edits, cuts) => {
          const bytes = Buffer.from(seed);
          for (const [at, v] of edits) bytes[at % bytes.length] = v;
          typedFailure(() => login(cutAt(bytes, cuts)));
          typedFailure(() => {
            for (const f of new FrameDecoder({ maxMessageBytes: 4096 }).feed(bytes)) decodeBackendMessage(f);
          });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('fuzz: mutated captured psql packets only raise IamdbError', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), (at, v) => {
        const bytes = Buffer.concat([PSQL_SSL_REQUEST, PSQL_STARTUP]);
        bytes[at % bytes.length] = v;
        typedFailure(() => {
          const d = new StartupDecoder();
          d.push(bytes);
          while (d.next() !== undefined);
        });
      }),
      { numRuns: 2000 },
    );
  });
});
