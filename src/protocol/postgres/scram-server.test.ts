/**
 * The server half of SCRAM-SHA-256 against the RFC 7677 exchange and
 * against the gateway's own client half (`ScramClient`), with the refusals
 * PostgreSQL makes: channel binding data on a mechanism without it, an
 * authorization identity, tampered nonces and proofs.
 */
import { describe, expect, it } from 'vitest';
import { Secret } from '../../util/secret.js';
import { ScramClient } from './scram.js';
import { PROXY_SCRAM_ITERATIONS, ScramServer, createScramVerifier } from './scram-server.js';
import { md5Password, verifyMd5Password } from './md5-password.js';

const RFC = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const verifier = createScramVerifier(new Secret('s3cret pw'));

function exchange(clientPassword: string, binding: 'none' | 'unused' = 'none'): { server: ScramServer; client: ScramClient; result: ReturnType<ScramServer['receiveClientFinal']> } {
  const server = new ScramServer({ verifier });
  const client = new ScramClient({ password: new Secret(clientPassword), channelBinding: { kind: binding } });
  const serverFirst = server.receiveClientFirst(client.mechanism, b(client.clientFirstMessage()));
  const result = server.receiveClientFinal(b(client.receiveServerFirst(b(serverFirst))));
  if (result.ok) client.receiveServerFinal(b(result.serverFinal));
  return { server, client, result };
}

describe('ScramServer', () => {
  it('reproduces the RFC 7677 exchange from the server side', () => {
    const server = new ScramServer({ verifier: createScramVerifier(new Secret('pencil'), { salt: RFC.salt }), serverNonce: RFC.serverNonce });
    expect(server.mechanisms).toEqual(['SCRAM-SHA-256']);
    expect(server.receiveClientFirst('SCRAM-SHA-256', b(RFC.clientFirst))).toBe(RFC.serverFirst);
    expect(server.receiveClientFinal(b(RFC.clientFinal))).toEqual({ ok: true, serverFinal: RFC.serverFinal });
    expect(server.state).toBe('Done');
  });

  it('logs in the gateway\'s own SCRAM client, which checks the server signature', () => {
    const { result, client } = exchange('s3cret pw');
    expect(result.ok).toBe(true);
    expect(client.state).toBe('Done');
    expect(verifier.iterations).toBe(PROXY_SCRAM_ITERATIONS);
    expect(verifier.salt).toHaveLength(16);
  });

  it('accepts a client that could bind a channel but thinks the server cannot (y,,)', () => {
    expect(exchange('s3cret pw', 'unused').result.ok).toBe(true);
  });

  it('answers a wrong password with ok: false, not an exception', () => {
    expect(exchange('wrong').result).toEqual({ ok: false });
  });

  it('refuses channel binding data (p=) as PostgreSQL does for SCRAM-SHA-256', () => {
    const server = new ScramServer({ verifier });
    expect(() => server.receiveClientFirst('SCRAM-SHA-256', b('p=tls-server-end-point,,n=,r=abcdef'))).toThrow(/without channel binding, but the SCRAM message includes channel binding data/);
    expect(() => new ScramServer({ verifier }).receiveClientFirst('SCRAM-SHA-256-PLUS', b('p=tls-server-end-point,,n=,r=abcdef'))).toThrow(/was not offered/);
  });

  it('refuses an authorization identity and mandatory extensions', () => {
    expect(() => new ScramServer({ verifier }).receiveClientFirst('SCRAM-SHA-256', b('n,a=admin,n=,r=abcdef'))).toThrow(/authorization identities/);
    expect(() => new ScramServer({ verifier }).receiveClientFirst('SCRAM-SHA-256', b('n,,m=ext,n=,r=abcdef'))).toThrow(/mandatory extensions/);
  });

  it('refuses a client-final whose nonce or channel binding was changed', () => {
    const client = new ScramClient({ password: new Secret('s3cret pw'), channelBinding: { kind: 'none' } });
    const server = new ScramServer({ verifier });
    const final = client.receiveServerFirst(b(server.receiveClientFirst('SCRAM-SHA-256', b(client.clientFirstMessage()))));
    expect(() => server.receiveClientFinal(b(final.replace(/,r=([^,]+)/, ',r=$1x')))).toThrow(/nonce does not match/);
    const other = new ScramServer({ verifier });
    const c2 = new ScramClient({ password: new Secret('s3cret pw'), channelBinding: { kind: 'none' } });
    const f2 = c2.receiveServerFirst(b(other.receiveClientFirst('SCRAM-SHA-256', b(c2.clientFirstMessage()))));
    expect(() => other.receiveClientFinal(b(f2.replace('c=biws', 'c=eSws')))).toThrow(/does not match the gs2 header/);
  });

  it('is used once: a second client-final is out of turn', () => {
    const { server } = exchange('s3cret pw');
    expect(() => server.receiveClientFinal(b('c=biws,r=x,p=AAAA'))).toThrow(/client-final-message/);
  });
});

describe('MD5 password check', () => {
  it('accepts the client answer for the right password and user only', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const pw = new Secret('s3cret');
    expect(verifyMd5Password(md5Password(pw, 'alice', salt), 'alice', pw, salt)).toBe(true);
    expect(verifyMd5Password(md5Password(new Secret('other'), 'alice', salt), 'alice', pw, salt)).toBe(false);
    expect(verifyMd5Password(md5Password(pw, 'bob', salt), 'alice', pw, salt)).toBe(false);
    expect(verifyMd5Password(md5Password(pw, 'alice', Buffer.from([4, 3, 2, 1])), 'alice', pw, salt)).toBe(false);
  });
});
