import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../util/secret.js';
import { ByteReader } from '../common/byte-reader.js';
import { typedFailure } from '../common/test-support.js';
import {
  encodeAuthentication,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeNegotiateProtocolVersion,
  encodeNoticeResponse,
  encodeParameterStatus,
  encodeReadyForQuery,
} from './backend/index.js';
import { FrameDecoder, type Frame } from './frame-decoder.js';
import { decodePasswordMessage } from './frontend/password-message.js';
import { decodeSASLInitialResponse, decodeSASLResponse } from './frontend/sasl.js';
import { decodeStartupPacket } from './frontend/startup-message.js';
import { SaltedPasswordCache } from './salted-password-cache.js';
import { UpstreamLogin, pickAllowedStartupParams, type UpstreamLoginStep } from './upstream-login.js';

function frames(...bufs: Buffer[]): Frame[] {
  const d = new FrameDecoder();
  return bufs.flatMap((b) => [...d.feed(b)]);
}
function one(buf: Buffer): Frame {
  return frames(buf)[0]!;
}
const READY_TAIL = [
  encodeParameterStatus({ name: 'server_version', value: '15.8' }),
  encodeBackendKeyData({ processId: 42, secretKey: Buffer.from('01020304', 'hex') }),
  encodeReadyForQuery({ status: 'I' }),
];

function finish(login: UpstreamLogin): UpstreamLoginStep {
  let last: UpstreamLoginStep = {};
  for (const b of READY_TAIL) last = login.receive(one(b));
  return last;
}

/** A test-only SCRAM server: enough of RFC 5802 to check the client's proof. */
function scramServer(password: string, opts: { salt?: Buffer; iterations?: number; cbindData?: Buffer } = {}) {
  const salt = opts.salt ?? Buffer.from('0123456789abcdef');
  const iterations = opts.iterations ?? 4096;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const hmac = (k: Buffer, s: string): Buffer => createHmac('sha256', k).update(s).digest();
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  let clientFirstBare = '';
  let serverFirst = '';
  let gs2 = '';
  return {
    first(clientFirst: string): string {
      const m = /^((?:[ny]|p=tls-server-end-point),,)(n=[^,]*,r=([^,]+))$/.exec(clientFirst)!;
      gs2 = m[1]!;
      clientFirstBare = m[2]!;
      serverFirst = `r=${m[3]}SERVERNONCE,s=${salt.toString('base64')},i=${iterations}`;
      return serverFirst;
    },
    final(clientFinal: string): string {
      const [withoutProof, proofAttr] = [clientFinal.slice(0, clientFinal.lastIndexOf(',p=')), clientFinal.slice(clientFinal.lastIndexOf(',p=') + 3)];
      const c = Buffer.from(withoutProof.split(',')[0]!.slice(2), 'base64');
      const expectedC = Buffer.concat([Buffer.from(gs2), gs2.startsWith('p=') ? opts.cbindData ?? Buffer.alloc(0) : Buffer.alloc(0)]);
      if (!c.equals(expectedC)) return 'e=channel-bindings-dont-match';
      const auth = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const proof = Buffer.from(proofAttr, 'base64');
      const sig = hmac(storedKey, auth);
      const clientKey = Buffer.from(proof.map((x, i) => x ^ sig[i]!));
      if (!createHash('sha256').update(clientKey).digest().equals(storedKey)) return 'e=invalid-proof';
      return `v=${hmac(serverKey, auth).toString('base64')}`;
    },
  };
}

describe('UpstreamLogin', () => {
  it('builds the StartupMessage with user, database and allowed params', () => {
    const login = new UpstreamLogin({ user: 'app', database: 'db', params: { application_name: 'psql', TimeZone: 'UTC' } });
    const packet = decodeStartupPacket(login.start());
    expect(packet).toMatchObject({
      type: 'StartupMessage',
      params: new Map([
        ['user', 'app'],
        ['database', 'db'],
        ['application_name', 'psql'],
        ['TimeZone', 'UTC'],
      ]),
    });
    expect(login.state).toBe('AwaitingAuthRequest');
  });

  it('refuses startup params off the allow-list, and the helper splits them', () => {
    expect(typedFailure(() => new UpstreamLogin({ user: 'a', database: 'b', params: { user: 'root' } }))).toBe(
      'PROTO_STARTUP_PARAM_NOT_ALLOWED',
    );
    expect(typedFailure(() => new UpstreamLogin({ user: 'a', database: 'b', params: { replication: 'true' } }))).toBe(
      'PROTO_STARTUP_PARAM_NOT_ALLOWED',
    );
    const { allowed, dropped } = pickAllowedStartupParams(new Map([['datestyle', 'ISO'], ['user', 'x'], ['_pq_.x', '1']]));
    expect([...allowed.keys()]).toEqual(['datestyle']);
    expect(dropped).toEqual(['user', '_pq_.x']);
  });

  it('refuses a NUL inside user, database or a parameter value (field injection)', () => {
    expect(typedFailure(() => new UpstreamLogin({ user: 'app\0database', database: 'x' }).start())).toBe('PROTO_UNENCODABLE');
    expect(typedFailure(() => new UpstreamLogin({ user: 'app', database: 'db\0user\0root' }).start())).toBe('PROTO_UNENCODABLE');
    expect(
      typedFailure(() => new UpstreamLogin({ user: 'a', database: 'b', params: { application_name: 'x\0user\0root' } }).start()),
    ).toBe('PROTO_UNENCODABLE');
  });

  it('logs in with trust and reports the session facts', () => {
    const login = new UpstreamLogin({ user: 'app', database: 'db' });
    login.start();
    expect(login.receive(one(encodeAuthentication({ type: 'AuthenticationOk' })))).toEqual({});
    login.receive(one(encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'hi' })));
    const step = finish(login);
    expect(step.done).toEqual({
      parameters: new Map([['server_version', '15.8']]),
      backendKey: { processId: 42, secretKey: Buffer.from('01020304', 'hex') },
      transactionStatus: 'I',
      authMethod: 'trust',
      protocolVersion: { major: 3, minor: 0 },
      unrecognizedOptions: [],
      notices: [{ severity: 'NOTICE', code: '00000', message: 'hi' }],
    });
    expect(login.state).toBe('Done');
  });

  it('sends a cleartext password, or refuses when cleartext is disabled', () => {
    const login = new UpstreamLogin({ user: 'app', database: 'db', password: new Secret('s3cret') });
    login.start();
    const step = login.receive(one(encodeAuthentication({ type: 'AuthenticationCleartextPassword' })));
    const sent = frames(...step.send!)[0]!;
    expect(decodePasswordMessage(new ByteReader(sent.body)).password.reveal()).toBe('s3cret');
    login.receive(one(encodeAuthentication({ type: 'AuthenticationOk' })));
    expect(finish(login).done?.authMethod).toBe('cleartext');

    const strict = new UpstreamLogin({ user: 'app', database: 'db', password: new Secret('x'), allowCleartextPassword: false });
    strict.start();
    expect(typedFailure(() => strict.receive(one(encodeAuthentication({ type: 'AuthenticationCleartextPassword' }))))).toBe(
      'PROTO_CLEARTEXT_REFUSED',
    );
    expect(strict.state).toBe('Failed');
  });

  it('answers MD5 as md5(md5(password + user) + salt)', () => {
    const login = new UpstreamLogin({ user: 'app', database: 'db', password: new Secret('pw') });
    login.start();
    const salt = Buffer.from('a1b2c3d4', 'hex');
    const step = login.receive(one(encodeAuthentication({ type: 'AuthenticationMD5Password', salt })));
    const inner = createHash('md5').update('pwapp').digest('hex');
    const expected = 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex');
    expect(decodePasswordMessage(new ByteReader(frames(...step.send!)[0]!.body)).password.reveal()).toBe(expected);
  });

  it('completes SCRAM-SHA-256 against a simulated server and reuses the cache', () => {
    const cache = new SaltedPasswordCache();
    for (let i = 0; i < 2; i++) {
      const server = scramServer('pencil');
      const login = new UpstreamLogin({ user: 'app', database: 'db', password: new Secret('pencil'), saltedPasswordCache: cache });
      login.start();
      const s1 = login.receive(one(encodeAuthentication({ type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256'] })));
      const init = decodeSASLInitialResponse(new ByteReader(frames(...s1.send!)[0]!.body));
      expect(init.mechanism).toBe('SCRAM-SHA-256');
      expect(init.data!.toString()).toMatch(/^n,,n=,r=/);
      const serverFirst = server.first(init.data!.toString());
      const s2 = login.receive(one(encodeAuthentication({ type: 'AuthenticationSASLContinue', data: Buffer.from(serverFirst) })));
      const serverFinal = server.final(decodeSASLResponse(new ByteReader(frames(...s2.send!)[0]!.body)).data.toString());
      expect(serverFinal.startsWith('v=')).toBe(true);
      login.receive(one(encodeAuthentication({ type: 'AuthenticationSASLFinal', data: Buffer.from(serverFinal) })));
      login.receive(one(encodeAuthentication({ type: 'AuthenticationOk' })));
      expect(finish(login).done?.authMethod).toBe('SCRAM-SHA-256');
    }
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1 });
  });

  it('binds to the channel with SCRAM-SHA-256-PLUS when TLS data is given and offered', () => {
    const endPoint = Buffer.alloc(32, 7);
    const server = scramServer('pencil', { cbindData: endPoint });
    const login = new UpstreamLogin({ user: 'app', database: 'db', password: new Secret('pencil'), tlsServerEndPoint: endPoint });
    login.start();
    const s1 = login.receive(
      one(encodeAuthentication({ type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] })),
    );
    const init = decodeSASLInitialResponse(new ByteReader(frames(...s1.send!)[0]!.body));
    expect(init.mechanism).toBe('SCRAM-SHA-256-PLUS');
    const s2 = login.receive(
      one(encodeAuthentication({ type: 'AuthenticationSASLContinue', data: Buffer.from(server.first(init.data!.toString())) })),
    );
    const final = server.final(decodeSASLResponse(new ByteReader(frames(...s2.send!)[0]!.body)).data.toString());
    login.receive(one(encodeAuthentication({ type: 'AuthenticationSASLFinal', data: Buffer.from(final) })));
    login.receive(one(encodeAuthentication({ type: 'AuthenticationOk' })));
    expect(finish(login).done?.authMethod).toBe('SCRAM-SHA-256-PLUS');
  });

  it('sends the y flag on TLS when the server offers no -PLUS, and refuses when binding is required', () => {
    const login = new UpstreamLogin({ user: 'a', database: 'b', password: new Secret('p'), tlsServerEndPoint: Buffer.alloc(32) });
    login.start();
    const s1 = login.receive(one(encodeAuthentication({ type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256'] })));
    expect(decodeSASLInitialResponse(new ByteReader(frames(...s1.send!)[0]!.body)).data!.toString()).toMatch(/^y,,/);

    const required = new UpstreamLogin({
      user: 'a',
      database: 'b',
      password: new Secret('p'),
      tlsServerEndPoint: Buffer.alloc(32),
      channelBinding: 'require',
    });
    required.start();
    expect(typedFailure(() => required.receive(one(encodeAuthentication({ type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256'] }))))).toBe(
      'PROTO_CHANNEL_BINDING_REQUIRED',
    );
    const trusting = new UpstreamLogin({ user: 'a', database: 'b', tlsServerEndPoint: Buffer.alloc(32), channelBinding: 'require' });
    trusting.start();
    expect(typedFailure(() => trusting.receive(one(encodeAuthentication({ type: 'AuthenticationOk' }))))).toBe(
      'PROTO_CHANNEL_BINDING_REQUIRED',
    );
  });

  it('refuses AuthenticationOk before the server proved itself in SCRAM', () => {
    const login = new UpstreamLogin({ user: 'a', database: 'b', password: new Secret('p'), scramClientNonce: 'abc' });
    login.start();
    login.receive(one(encodeAuthentication({ type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256'] })));
    expect(typedFailure(() => login.receive(one(encodeAuthentication({ type: 'AuthenticationOk' }))))).toBe('PROTO_SCRAM_INCOMPLETE');
  });

  it('returns the server ErrorResponse fields (e.g. 28P01) and stops', () => {
    const login = new UpstreamLogin({ user: 'a', database: 'b', password: new Secret('p') });
    login.start();
    login.receive(one(encodeAuthentication({ type: 'AuthenticationCleartextPassword' })));
    const step = login.receive(
      one(encodeErrorResponse({ severity: 'FATAL', code: '28P01', message: 'password authentication failed for user "a"' })),
    );
    expect(step.error).toMatchObject({ code: '28P01', severity: 'FATAL' });
    expect(login.state).toBe('Failed');
    expect(typedFailure(() => login.receive(one(encodeReadyForQuery({ status: 'I' }))))).toBe('PROTO_UNEXPECTED_MESSAGE');
  });

  it('needs a password when asked for one, and refuses GSS/SSPI and unknown SASL', () => {
    const noPw = new UpstreamLogin({ user: 'a', database: 'b' });
    noPw.start();
    expect(typedFailure(() => noPw.receive(one(encodeAuthentication({ type: 'AuthenticationMD5Password', salt: Buffer.alloc(4) }))))).toBe(
      'PROTO_PASSWORD_REQUIRED',
    );
    const gss = new UpstreamLogin({ user: 'a', database: 'b' });
    gss.start();
    expect(typedFailure(() => gss.receive(one(encodeAuthentication({ type: 'AuthenticationUnsupported', code: 7, data: Buffer.alloc(0) }))))).toBe(
      'PROTO_AUTH_METHOD_UNSUPPORTED',
    );
    const sasl = new UpstreamLogin({ user: 'a', database: 'b', password: new Secret('p') });
    sasl.start();
    expect(typedFailure(() => sasl.receive(one(encodeAuthentication({ type: 'AuthenticationSASL', mechanisms: ['OAUTHBEARER'] }))))).toBe(
      'PROTO_AUTH_METHOD_UNSUPPORTED',
    );
  });

  it('accepts NegotiateProtocolVersion before authentication', () => {
    const login = new UpstreamLogin({ user: 'a', database: 'b', protocolVersion: { major: 3, minor: 2 } });
    login.start();
    login.receive(one(encodeNegotiateProtocolVersion({ newestMinor: 0, unrecognizedOptions: ['_pq_.x'] })));
    login.receive(one(encodeAuthentication({ type: 'AuthenticationOk' })));
    const done = finish(login).done!;
    expect(done.protocolVersion).toEqual({ major: 3, minor: 0 });
    expect(done.unrecognizedOptions).toEqual(['_pq_.x']);
  });

  it('rejects messages out of order and ReadyForQuery without BackendKeyData', () => {
    const early = new UpstreamLogin({ user: 'a', database: 'b' });
    early.start();
    expect(typedFailure(() => early.receive(one(encodeReadyForQuery({ status: 'I' }))))).toBe('PROTO_UNEXPECTED_MESSAGE');
    const noKey = new UpstreamLogin({ user: 'a', database: 'b' });
    noKey.start();
    noKey.receive(one(encodeAuthentication({ type: 'AuthenticationOk' })));
    expect(typedFailure(() => noKey.receive(one(encodeReadyForQuery({ status: 'I' }))))).toBe('PROTO_UNEXPECTED_MESSAGE');
    const notStarted = new UpstreamLogin({ user: 'a', database: 'b' });
    expect(typedFailure(() => notStarted.receive(one(encodeAuthentication({ type: 'AuthenticationOk' }))))).toBe('PROTO_UNEXPECTED_MESSAGE');
  });
});
