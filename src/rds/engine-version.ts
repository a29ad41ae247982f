/**
 * The RDS `EngineVersion` of a server, from what the server itself announces:
 * PostgreSQL's `server_version` (e.g. `15.8 (Debian 15.8-1.pgdg120+1)`), a
 * MySQL greeting (`8.0.36`) or a MariaDB one (`5.5.5-10.11.6-MariaDB-0+deb12u1`,
 * where `5.5.5-` only tells old clients the real version follows). RDS gives
 * the bare number (`15.8`, `8.0.36`, `10.11.6`), so does iamdb.
 */
export function engineVersionOf(announced: string): string | undefined {
  const text = announced.startsWith('5.5.5-') ? announced.slice('5.5.5-'.length) : announced;
  const m = /^\d{1,4}(?:\.\d{1,6}){0,3}/.exec(text);
  return m === null ? undefined : m[0];
}
