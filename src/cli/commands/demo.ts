/**
 * `iamdb demo`: everything on one laptop in one command. An embedded
 * PostgreSQL (PGlite behind its socket server) plays the real server; iamdb
 * fronts it with an IAM-enabled instance endpoint; a demo IAM user `alice`
 * gets an access key (written to an AWS credentials file in the state
 * directory) and a policy allowing `rds-db:connect` as database user alice,
 * who is created and granted `rds_iam`. The printed commands connect with a
 * token from the AWS CLI or from iamdb itself.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';
import { stringify } from 'yaml';
import { createApp } from '../../app.js';
import { loadConfig } from '../../config/index.js';
import { newAccessKeyId, newSecretAccessKey } from '../../iam/index.js';

interface DemoKeys {
  accessKeyId: string;
  secretAccessKey: string;
}

export async function runDemo(opts: { port: number; apiPort: number; stateDir: string; env: Readonly<Record<string, string | undefined>>; out: (s: string) => void }): Promise<void> {
  const stateDir = resolve(opts.stateDir);
  const demoDir = join(stateDir, 'demo');
  mkdirSync(demoDir, { recursive: true, mode: 0o700 });

  // Demo keys persist so a second run keeps working with the same profile.
  const keysFile = join(demoDir, 'alice-keys.json');
  let keys: DemoKeys;
  if (existsSync(keysFile)) keys = JSON.parse(readFileSync(keysFile, 'utf8')) as DemoKeys;
  else {
    keys = { accessKeyId: newAccessKeyId(), secretAccessKey: newSecretAccessKey() };
    writeFileSync(keysFile, JSON.stringify(keys), { mode: 0o600 });
  }

  const db = await PGlite.create({ dataDir: join(demoDir, 'pgdata') });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 20 });
  await server.start();
  const addr = (server as unknown as { server?: { address(): { port: number } } }).server?.address();
  const dbPort = addr?.port;
  if (dbPort === undefined) throw new Error('PGlite socket server did not report its port');

  const account = '123456789012';
  const region = 'us-east-1';
  const configText = stringify({
    account,
    region,
    stateDir,
    api: { listen: `127.0.0.1:${opts.apiPort}` },
    iam: {
      users: [
        {
          name: 'alice',
          accessKeys: [{ id: keys.accessKeyId, secret: keys.secretAccessKey }],
          policies: [
            {
              name: 'connect-as-alice',
              document: {
                Version: '2012-10-17',
                Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${region}:${account}:dbuser:*/alice` }],
              },
            },
          ],
        },
      ],
    },
    instances: [
      {
        id: 'demo-pg',
        engine: 'postgres',
        listen: `127.0.0.1:${opts.port}`,
        target: `127.0.0.1:${dbPort}`,
        master: { username: 'postgres', password: 'demo' },
        iamDatabaseAuthentication: true,
      },
    ],
  });
  writeFileSync(join(demoDir, 'iamdb.yaml'), configText.replace(keys.secretAccessKey, '<in alice-keys.json>'), { mode: 0o600 });
  const config = loadConfig({ text: configText, env: opts.env, baseDir: process.cwd() });
  const app = await createApp(config, { env: opts.env });
  await app.start();

  // The demo database user: created directly on the embedded server, as a DBA would.
  const admin = new pg.Client({ host: '127.0.0.1', port: dbPort, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(`DO $$ BEGIN CREATE ROLE rds_iam NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await admin.query(`DO $$ BEGIN CREATE USER alice; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await admin.query('GRANT rds_iam TO alice');
  await admin.end();

  const caPath = join(demoDir, 'ca.pem');
  writeFileSync(caPath, app.ca.caBundlePem());
  const credsPath = join(demoDir, 'credentials');
  writeFileSync(credsPath, `[iamdb-demo]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n`, { mode: 0o600 });

  const port = app.endpoints[0]?.port ?? opts.port;
  opts.out(
    [
      '',
      `iamdb demo is running: instance demo-pg (IAM auth on) at 127.0.0.1:${port}, in front of an embedded PostgreSQL.`,
      `IAM user alice may connect as database user alice (policy: rds-db:connect on arn:aws:rds-db:${region}:${account}:dbuser:*/alice).`,
      '',
      'In another terminal, in this directory:',
      `  export AWS_SHARED_CREDENTIALS_FILE=${credsPath} AWS_PROFILE=iamdb-demo AWS_DEFAULT_REGION=${region} AWS_REGION=${region}`,
      `  TOKEN=$(npx iamdb generate-db-auth-token --hostname 127.0.0.1 --port ${port} --username alice)`,
      `  psql "host=127.0.0.1 port=${port} dbname=postgres user=alice sslmode=verify-full sslrootcert=${caPath} password=$TOKEN" -c 'select current_user'`,
      '',
      `  (aws rds generate-db-auth-token --hostname 127.0.0.1 --port ${port} --username alice works the same way.)`,
      '',
      `The AWS-compatible control plane is at ${app.apiUrl}; its administrator's key is in ${join(config.stateDirPath, 'admin-credentials')}:`,
      `  AWS_SHARED_CREDENTIALS_FILE=${join(config.stateDirPath, 'admin-credentials')} aws --profile iamdb-admin --region ${region} --endpoint-url ${app.apiUrl} iam list-users`,
      'The embedded PostgreSQL (PGlite) is single-user: sessions there report current_user as postgres. In front of a real',
      'server (iamdb serve --config iamdb.example.yaml) the session runs as alice.',
      `Audit log: ${config.auditPath}    Stop with Ctrl-C.`,
      '',
    ].join('\n'),
  );

  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      void app
        .close()
        .then(() => server.stop())
        .then(() => db.close())
        .then(resolveStop);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
