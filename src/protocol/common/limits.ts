/**
 * Size limits shared by the wire codecs. Every length a peer declares is
 * checked against one of these before any byte is buffered or allocated, so a
 * 4-byte header can never make us reserve gigabytes (pgx CVE-2024-27304,
 * Npgsql GHSA-x9vc-6hfv-hg8c: the 4 GiB length wrap).
 *
 * @module
 */
import { IamdbError } from '../../errors/index.js';

/**
 * PostgreSQL's own cap on a startup packet (`MAX_STARTUP_PACKET_LENGTH` in the
 * server), length word included.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html (StartupMessage)
 */
export const PG_MAX_STARTUP_BYTES = 10_000;

/** Smallest startup packet: length word plus request code. */
export const PG_MIN_STARTUP_BYTES = 8;

/**
 * PostgreSQL refuses any message over 1 GiB (`PQ_LARGE_MESSAGE_LIMIT` minus
 * one), so that is our ceiling too; deployments configure lower.
 */
export const PG_DEFAULT_MAX_MESSAGE_BYTES = 0x3fff_ffff;

/**
 * Default cap while logging in to an upstream server: Authentication*,
 * ParameterStatus, BackendKeyData and ErrorResponse are all small, and a
 * hostile or broken upstream must not make the gateway buffer much before it
 * is authenticated. 1 MiB leaves room for an 8 KB ParameterStatus and long
 * error details.
 */
export const PG_LOGIN_MAX_MESSAGE_BYTES = 1 << 20;

/**
 * Cap on a client's messages before it has authenticated (the
 * PasswordMessage that carries a token or a password). A token is at most
 * 8 KiB (`sigv4`'s own bound); nothing a login needs comes near 16 KiB, and
 * an unauthenticated peer must not make the gateway hold more.
 */
export const PG_PRE_AUTH_MAX_MESSAGE_BYTES = 16 * 1024;

/**
 * Cap on a MySQL client's packets before it has authenticated
 * (HandshakeResponse41, AuthSwitchResponse): MySQL lets connection
 * attributes reach 64 KiB, and a token is at most 8 KiB.
 */
export const MYSQL_PRE_AUTH_MAX_PACKET_BYTES = 80 * 1024;

/** Longest identifier PostgreSQL keeps (NAMEDATALEN - 1); longer is truncated by the server. */
export const PG_MAX_IDENTIFIER_BYTES = 63;

/** Limits a PostgreSQL codec instance enforces. */
export interface PgLimits {
  /** Largest typed message accepted, length word included. Default 1 GiB - 1. */
  readonly maxMessageBytes: number;
  /** Largest startup packet accepted, length word included. Default (and ceiling) 10,000. */
  readonly maxStartupBytes: number;
}

/** The defaults: PostgreSQL's own caps. */
export const defaultPgLimits: PgLimits = Object.freeze({
  maxMessageBytes: PG_DEFAULT_MAX_MESSAGE_BYTES,
  maxStartupBytes: PG_MAX_STARTUP_BYTES,
});

/**
 * Validates one limit: an integer between `min` and `max` inclusive.
 * Throws `PROTO_BAD_LIMIT` otherwise (a configuration mistake, not a peer's).
 */
export function checkLimit(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new IamdbError('PROTO_BAD_LIMIT', { name, min, max, value: String(value) });
  }
  return value;
}

/**
 * Merges overrides onto the defaults. Limits can be lowered, never raised
 * beyond PostgreSQL's own: the server would refuse larger messages anyway.
 *
 * @example
 *   const limits = resolvePgLimits({ maxMessageBytes: 64 << 20 });
 */
export function resolvePgLimits(overrides: Partial<PgLimits> = {}): PgLimits {
  return Object.freeze({
    maxMessageBytes: checkLimit(
      'maxMessageBytes',
      overrides.maxMessageBytes ?? defaultPgLimits.maxMessageBytes,
      5,
      PG_DEFAULT_MAX_MESSAGE_BYTES,
    ),
    maxStartupBytes: checkLimit(
      'maxStartupBytes',
      overrides.maxStartupBytes ?? defaultPgLimits.maxStartupBytes,
      PG_MIN_STARTUP_BYTES,
      PG_MAX_STARTUP_BYTES,
    ),
  });
}
