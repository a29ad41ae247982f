/**
 * The first administrator: on first start iamdb creates an IAM user with
 * full access and writes its access key, once, to a file in AWS's shared
 * credentials format (mode 0600), so `aws --profile iamdb-admin
 * --endpoint-url …` works at once. Later starts leave the user and the file
 * alone: the operator may rotate or delete the key through the API.
 */
import { writeFileSync, chmodSync } from 'node:fs';
import type { IamDirectory } from '../iam/index.js';

export const ADMIN_PROFILE = 'iamdb-admin';

const ADMIN_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Sid: 'IamdbBootstrapAdministrator', Effect: 'Allow', Action: '*', Resource: '*' }],
});

/** Creates the admin user and writes its key when the user does not exist yet. */
export function ensureBootstrapAdmin(dir: IamDirectory, options: { userName: string; credentialsPath: string }): { created: boolean } {
  try {
    dir.getUser(options.userName);
    return { created: false };
  } catch {
    // Not there: first start (or the operator deleted it and wants a new one).
  }
  dir.createUser({ userName: options.userName, tags: { 'iamdb:bootstrap': 'true' } });
  dir.putUserPolicy(options.userName, 'AdministratorAccess', ADMIN_POLICY);
  const key = dir.createAccessKey(options.userName);
  const text = [`[${ADMIN_PROFILE}]`, `aws_access_key_id = ${key.accessKeyId}`, `aws_secret_access_key = ${key.secretAccessKey.reveal()}`, ''].join('\n');
  writeFileSync(options.credentialsPath, text, { mode: 0o600 });
  // writeFileSync keeps an existing file's mode; the key must not be readable by others.
  chmodSync(options.credentialsPath, 0o600);
  return { created: true };
}
