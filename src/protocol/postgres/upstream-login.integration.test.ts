/**
 * UpstreamLogin against a real PostgreSQL 15: a throwaway cluster in a temp
 * directory on a free port, initialised with scram-sha-256, with roles whose
 * passwords are stored as MD5 and as SCRAM, one role forced to cleartext by
 * pg_hba, and TLS on (self-signed) so SCRAM-SHA-256-PLUS channel binding is
 * checked by the real server. Skipped when the PostgreSQL 15 binaries, root
 * (for runuser) or openssl are missing.
 *
 * Kept beside the code rather than in test/support: it exercises only this
 * module and needs no gateway.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../util/secret.js';
import { buildMessage } from '../common/byte-writer.js';
import { FrameDecoder, type Frame } from './frame-decoder.js';
import { encodeSSLRequest } from './frontend/ssl-request.js';
import { SaltedPasswordCache } from './salted-password-cache.js';
import { UpstreamLogin, type UpstreamLoginOptions, type UpstreamLoginStep } from './upstream-login.js';

const BIN = '/usr/lib/postgresql/15/bin';
const available =
  existsSync(join(BIN, 'initdb')) &&
  typeof process.getuid === 'function' &&
  process.getuid() === 0 &&
  existsSync('/usr/bin/openssl');

const SUPERUSER_PASSWORD = 'super-secret-for-tests';

interface Cluster {
  dir: string;
  port: number;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'iamdb-pgproto-'));
  chmodSync(dir, 0o700);
  const postgres = Number(run('id', ['-u', 'postgres']).trim());
  const group = Number(run('id', ['-g', 'postgres']).trim());
  chownSync(dir, postgres, group);
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, SUPERUSER_PASSWORD, { mode: 0o600 });
  chownSync(pwfile, postgres, group);
  const data = join(dir, 'data');
  run('runuser', ['-u', 'postgres', '--', join(BIN, 'initdb'), '-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`]);
  // Self-signed certificate so the server offers SCRAM-SHA-256-PLUS.
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '1', '-subj', '/CN=localhost',
    '-keyout', join(data, 'server.key'), '-out', join(data, 'server.crt')]);
  chmodSync(join(data, 'server.key'), 0o600);
  chownSync(join(data, 'server.key'), postgres, group);
  chownSync(join(data, 'server.crt'), postgres, group);
  writeFileSync(
    join(data, 'pg_hba.conf'),
    [
      'local all postgres scram-sha-256',
      'host all iamdb_clear 127.0.0.1/32 password',
      // "md5" answers with MD5 or SCRAM depending on how the password is stored.
      'host all all 127.0.0.1/32 md5',
      '',
    ].join('\n'),
  );
  chownSync(join(data, 'pg_hba.conf'), postgres, group);
  const port = await freePort();
  run('runuser', ['-u', 'postgres', '--', join(BIN, 'pg_ctl'), '-D', data, '-w', '-l', join(dir, 'log'), '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c ssl=on`, 'start']);
  const sql = [
    "SET password_encryption = 'md5'; CREATE ROLE iamdb_md5 LOGIN PASSWORD 'md5-pw';",
    "SET password_encryption = 'scram-sha-256'; CREATE ROLE iamdb_scram LOGIN PASSWORD 'scram-pw'; CREATE ROLE \"iamdb_ünï\" LOGIN PASSWORD 'p\u00e4ss\u00a0word';",
    "CREATE ROLE iamdb_clear LOGIN PASSWORD 'clear-pw';",
  ].join(' ');
  run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    PGPASSWORD: SUPERUSER_PASSWORD,
    PGSSLMODE: 'disable',
  });
  return { dir, port };
}

function stopCluster(c: Cluster): void {
  try {
    run('runuser', ['-u', 'postgres', '--', join(BIN, 'pg_ctl'), '-D', join(c.dir, 'data'), '-m', 'immediate', 'stop']);
  } finally {
    rmSync(c.dir, { recursive: true, force: true });
  }
}

/** Reads frames from a socket one at a time. */
function frameReader(socket: Socket): () => Promise<Frame> {
  const decoder = new FrameDecoder({ maxMessageBytes: 1 << 20 });
  const ready: Frame[] = [];
  let waiting: ((f: Frame) => void) | undefined;
  let failed: ((e: Error) => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.feed(chunk)) {
      const copy = { type: f.type, body: Buffer.from(f.body) };
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w(copy);
      } else ready.push(copy);
    }
  });
  socket.on('close', () => failed?.(new Error('socket closed')));
  return () =>
    new Promise<Frame>((resolve, reject) => {
      const f = ready.shift();
      if (f) return resolve(f);
      waiting = resolve;
      failed = reject;
    });
}

async function connectPlain(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** SSLRequest, one 'S', TLS handshake; returns the socket and the tls-server-end-point hash. */
async function connectTls(port: number): Promise<{ socket: TLSSocket; endPoint: Buffer }> {
  const raw = await connectPlain(port);
  const answer = await new Promise<Buffer>((resolve) => {
    raw.once('data', resolve);
    raw.write(encodeSSLRequest());
  });
  expect(answer).toEqual(Buffer.from('S'));
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const t = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }, () => resolve(t));
    t.once('error', reject);
  });
  // RFC 5929: hash of the certificate with its signature hash (SHA-256 here).
  const endPoint = createHash('sha256').update(socket.getPeerCertificate().raw).digest();
  return { socket, endPoint };
}

async function drive(socket: Socket, options: UpstreamLoginOptions): Promise<UpstreamLoginStep & { query?: string }> {
  const next = frameReader(socket);
  const login = new UpstreamLogin(options);
  socket.write(login.start());
  for (;;) {
    const step = login.receive(await next());
    for (const b of step.send ?? []) socket.write(b);
    if (step.error) {
      socket.destroy();
      return step;
    }
    if (step.done) {
      // Prove the session is usable: SELECT current_user.
      socket.write(buildMessage(0x51 /* 'Q' */, (w) => w.cstring('SELECT current_user')));
      let user: string | undefined;
      for (;;) {
        const f = await next();
        if (f.type === 0x44 /* 'D' */) user = f.body.subarray(6).toString('utf8');
        if (f.type === 0x5a /* 'Z' */) break;
      }
      socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
      return { ...step, ...(user !== undefined ? { query: user } : {}) };
    }
  }
}

describe.skipIf(!available)('UpstreamLogin against PostgreSQL 15', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 120_000);
  afterAll(() => {
    if (cluster) stopCluster(cluster);
  });

  const base = (user: string, password: string): UpstreamLoginOptions => ({
    user,
    database: 'postgres',
    password: new Secret(password),
    params: { application_name: 'iamdb-test' },
  });

  it('logs in with SCRAM-SHA-256 on a plain link', async () => {
    const step = await drive(await connectPlain(cluster.port), base('iamdb_scram', 'scram-pw'));
    expect(step.done?.authMethod).toBe('SCRAM-SHA-256');
    expect(step.done?.parameters.get('application_name')).toBe('iamdb-test');
    expect(step.done?.parameters.get('server_version')).toMatch(/^15\./);
    expect(step.done?.backendKey.secretKey).toHaveLength(4);
    expect(step.done?.transactionStatus).toBe('I');
    expect(step.query).toBe('iamdb_scram');
  });

  it('logs in with SCRAM-SHA-256-PLUS over TLS, bound to the server certificate', async () => {
    const { socket, endPoint } = await connectTls(cluster.port);
    const step = await drive(socket, { ...base('iamdb_scram', 'scram-pw'), tlsServerEndPoint: endPoint, channelBinding: 'require' });
    expect(step.done?.authMethod).toBe('SCRAM-SHA-256-PLUS');
    expect(step.query).toBe('iamdb_scram');
  });

  it('fails SCRAM-SHA-256-PLUS when the certificate hash is wrong', async () => {
    const { socket } = await connectTls(cluster.port);
    const step = await drive(socket, { ...base('iamdb_scram', 'scram-pw'), tlsServerEndPoint: Buffer.alloc(32) });
    // PostgreSQL reports a binding mismatch as invalid_authorization_specification.
    expect(step.error).toMatchObject({ code: '28000', message: 'SCRAM channel binding check failed' });
  });

  it('logs in with SCRAM through the SaltedPassword cache twice', async () => {
    const cache = new SaltedPasswordCache();
    for (let i = 0; i < 2; i++) {
      const step = await drive(await connectPlain(cluster.port), { ...base('iamdb_scram', 'scram-pw'), saltedPasswordCache: cache });
      expect(step.done?.authMethod).toBe('SCRAM-SHA-256');
    }
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1 });
  });

  it('prepares a non-ASCII password like PostgreSQL (SASLprep)', async () => {
    const step = await drive(await connectPlain(cluster.port), base('iamdb_ünï', 'p\u00e4ss\u00a0word'));
    expect(step.done?.authMethod).toBe('SCRAM-SHA-256');
    // U+00A0 maps to a space on both sides.
    const spaced = await drive(await connectPlain(cluster.port), base('iamdb_ünï', 'p\u00e4ss word'));
    expect(spaced.done?.authMethod).toBe('SCRAM-SHA-256');
  });

  it('logs in with MD5', async () => {
    const step = await drive(await connectPlain(cluster.port), base('iamdb_md5', 'md5-pw'));
    expect(step.done?.authMethod).toBe('md5');
    expect(step.query).toBe('iamdb_md5');
  });

  it('logs in with a cleartext password', async () => {
    const step = await drive(await connectPlain(cluster.port), base('iamdb_clear', 'clear-pw'));
    expect(step.done?.authMethod).toBe('cleartext');
  });

  it('decodes the server 28P01 ErrorResponse for a wrong password (SCRAM, MD5, cleartext)', async () => {
    for (const user of ['iamdb_scram', 'iamdb_md5', 'iamdb_clear']) {
      const step = await drive(await connectPlain(cluster.port), base(user, 'wrong'));
      expect(step.error, user).toMatchObject({
        severity: 'FATAL',
        severityNonLocalized: 'FATAL',
        code: '28P01',
        message: `password authentication failed for user "${user}"`,
      });
      expect(step.error?.routine).toBeDefined();
    }
  });
});
