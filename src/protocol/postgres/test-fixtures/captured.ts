/**
 * Bytes captured from real peers on 2026-11-23, used as golden input and
 * fuzz seeds. Test-only; not exported from the index.
 *
 * Client side: psql 15.20 (Debian 15.20-0+deb12u1) run as
 * `psql "host=127.0.0.1 port=<p> user=alice dbname=db application_name=psql sslmode=prefer gssencmode=disable"`
 * against a listener that answered the SSLRequest with 'N'.
 *
 * Server side: PostgreSQL 15.20 (Debian) on 127.0.0.1:5432 with trust auth,
 * sent a protocol-3.0 StartupMessage for user postgres, first with database
 * `postgres` (full login) then `no_such_db` (refused with 3D000).
 *
 * @module
 */
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** psql's SSLRequest (first chunk). */
export const PSQL_SSL_REQUEST = hex('0000000804d2162f');

/** psql's StartupMessage after 'N' (second chunk): user alice, database db, application_name psql. */
export const PSQL_STARTUP = hex(
  '00000036000300007573657200616c696365006461746162617365006462006170706c69636174696f6e5f6e616d65007073716c0000',
);

/**
 * PostgreSQL 15 login with trust: AuthenticationOk, 13 ParameterStatus,
 * BackendKeyData, ReadyForQuery 'I' (one chunk as received).
 */
export const PG15_TRUST_LOGIN = hex(
  // one message per line
  '520000000800000000' +
  '53000000166170706c69636174696f6e5f6e616d650000' +
  '5300000019636c69656e745f656e636f64696e67005554463800' +
  '5300000017446174655374796c650049534f2c204d445900' +
  '530000002664656661756c745f7472616e73616374696f6e5f726561645f6f6e6c79006f666600' +
  '5300000017696e5f686f745f7374616e646279006f666600' +
  '5300000019696e74656765725f6461746574696d6573006f6e00' +
  '530000001b496e74657276616c5374796c6500706f73746772657300' +
  '530000001469735f737570657275736572006f6e00' +
  '53000000197365727665725f656e636f64696e67005554463800' +
  '53000000327365727665725f76657273696f6e0031352e3230202844656269616e2031352e32302d302b646562313275312900' +
  '530000002373657373696f6e5f617574686f72697a6174696f6e00706f73746772657300' +
  '53000000237374616e646172645f636f6e666f726d696e675f737472696e6773006f6e00' +
  '530000001554696d655a6f6e65004574632f55544300' +
  '4b0000000c00007f7b6b1f5347' +
  '5a0000000549',
);

/** PostgreSQL 15 refusing an unknown database: AuthenticationOk then ErrorResponse 3D000. */
export const PG15_NO_SUCH_DB = hex(
  '520000000800000000' +
  '450000005f53464154414c0056464154414c00433344303030004d646174616261736520226e6f5f737563685f64622220646f6573206e6f742065786973740046706f7374696e69742e63004c3934380052496e6974506f7374677265730000',
);
