import { randomBytes, randomInt } from 'node:crypto';

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

/**
 * RDS Proxy's ids: `prx-` (the proxy, also its resource id in `rds-db:connect`
 * ARNs), `prx-tg-` (its target group) and `prx-endpoint-` (an endpoint), each
 * followed by 17 lowercase hex digits as AWS issues them
 * (`arn:aws:rds:us-east-2:…:db-proxy:prx-0598e841e18ad8e62`).
 */
export type ProxyIdKind = 'prx' | 'prx-tg' | 'prx-endpoint';

export function newProxyId(kind: ProxyIdKind): string {
  return `${kind}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

export const PROXY_RESOURCE_ID = /^prx-[0-9a-f]{17}$/;

/** The ARNs of a proxy (`db-proxy:prx-…`), its target group (`target-group:prx-tg-…`) and endpoints (`db-proxy-endpoint:prx-endpoint-…`). */
export function proxyArn(p: { partition: string; region: string; account: string }, type: 'db-proxy' | 'target-group' | 'db-proxy-endpoint', id: string): string {
  return `arn:${p.partition}:rds:${p.region}:${p.account}:${type}:${id}`;
}
