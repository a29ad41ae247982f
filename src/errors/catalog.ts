/**
 * The one error catalog. Each domain keeps its codes in `codes/<domain>.ts`
 * (so parallel work never collides in one file); this module merges them and
 * is the only place code names are looked up. docs/errors.md is checked
 * against it by a test.
 */
import type { ErrorSpec } from './types.js';
import { generalCodes } from './codes/general.js';
import { sigv4Codes } from './codes/sigv4.js';
import { iamCodes } from './codes/iam.js';
import { protocolPostgresCodes } from './codes/protocol-postgres.js';
import { protocolMysqlCodes } from './codes/protocol-mysql.js';
import { storeCodes } from './codes/store.js';
import { cryptoCodes } from './codes/crypto.js';
import { tlsCodes } from './codes/tls.js';
import { gatewayCodes } from './codes/gateway.js';
import { configCodes } from './codes/config.js';
import { auditCodes } from './codes/audit.js';
import { stsCodes } from './codes/sts.js';
import { apiCodes } from './codes/api.js';
import { rdsCodes } from './codes/rds.js';
import { kmsCodes } from './codes/kms.js';
import { secretsCodes } from './codes/secrets.js';

export const catalog = {
  ...generalCodes,
  ...sigv4Codes,
  ...iamCodes,
  ...protocolPostgresCodes,
  ...protocolMysqlCodes,
  ...storeCodes,
  ...cryptoCodes,
  ...tlsCodes,
  ...gatewayCodes,
  ...configCodes,
  ...auditCodes,
  ...stsCodes,
  ...apiCodes,
  ...rdsCodes,
  ...kmsCodes,
  ...secretsCodes,
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof catalog;
