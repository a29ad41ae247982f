import { randomInt } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * A new DbiResourceId: `db-` and 26 uppercase letters or digits, as RDS
 * issues them. It never changes for an instance, so policies that name it
 * keep working when the instance is renamed or moved.
 */
export function newDbiResourceId(): string {
  let out = 'db-';
  for (let i = 0; i < 26; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

export const DBI_RESOURCE_ID = /^db-[A-Z0-9]{26}$/;

/** The resource an `rds-db:connect` statement must cover for this login. */
export function dbUserArn(p: { partition: string; region: string; account: string; resourceId: string; dbUser: string }): string {
  return `arn:${p.partition}:rds-db:${p.region}:${p.account}:dbuser:${p.resourceId}/${p.dbUser}`;
}

/** The instance's own ARN (used for tags and the control plane). */
export function dbInstanceArn(p: { partition: string; region: string; account: string; id: string }): string {
  return `arn:${p.partition}:rds:${p.region}:${p.account}:db:${p.id}`;
}
