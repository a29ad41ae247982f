/**
 * TLS toward the server for a pool's server connections, run by the native
 * side (native/pg_server_tls.c) so that pooled bytes never pass through
 * Node: this module makes the decisions (verify or not, against which CA,
 * which name is checked and sent as SNI), the native side only executes
 * them. The SSLRequest and what its answer means under each `targetTls`
 * mode stay in upstream.ts, shared with instance endpoints; the login runs
 * on the plaintext end the native side hands back, and the pool then takes
 * the link (NativePoolControl.add with `tlsLink`).
 */
import { IamdbError, isIamdbError } from '../../errors/index.js';
import type { DbInstance, TargetTls } from '../../rds/index.js';
import type { NativeDataPath } from '../native-data-path.js';
import { SERVER_WITHOUT_TLS, type UpstreamTlsStarter } from '../postgres/upstream.js';
import { UNTRUSTED_CERTIFICATE, nativeTlsFailure, readCa, serverEndPointFromDer } from '../tls-upgrade.js';

/** What the native side is told for one target's `targetTls` (the same rules as Node's links, tls-upgrade.ts). */
export interface ServerTlsPlan {
  readonly verify: boolean;
  readonly caPath: string | undefined;
  /** SNI ('' for an address: SNI carries names only). */
  readonly sniName: string;
  /** The name the certificate must carry ('' unless verify-full). */
  readonly expectedHost: string;
}

export function serverTlsPlan(host: string, tls: TargetTls): ServerTlsPlan {
  const name = tls.serverName ?? host;
  const verify = tls.mode === 'verify-ca' || tls.mode === 'verify-full';
  return {
    verify,
    caPath: verify ? tls.ca : undefined,
    sniName: /^[\d.]+$|:/.test(name) ? '' : name,
    expectedHost: tls.mode === 'verify-full' ? name : '',
  };
}

const starters = new WeakMap<NativeDataPath, UpstreamTlsStarter>();

/**
 * The pools' TLS starter for openUpstream: one OpenSSL context per
 * (CA bundle, verify) kept for the process, a link per connection.
 */
export function nativeUpstreamTls(native: NativeDataPath): UpstreamTlsStarter {
  let starter = starters.get(native);
  if (starter === undefined) {
    starter = makeStarter(native);
    starters.set(native, starter);
  }
  return starter;
}

/**
 * A TLS failure no retry will cure: the certificate did not verify, or the
 * server offers no TLS where the mode requires it. The first login of a pool
 * reports it at once instead of waiting out the borrow timeout.
 */
export function permanentTlsFailure(err: unknown): boolean {
  if (!isIamdbError(err, 'GATEWAY_UPSTREAM_TLS_FAILED')) return false;
  const reason = String(err.details['reason'] ?? '');
  return reason.startsWith(UNTRUSTED_CERTIFICATE) || reason === SERVER_WITHOUT_TLS || reason.startsWith('cannot use targetTls.ca');
}

function makeStarter(native: NativeDataPath): UpstreamTlsStarter {
  const contexts = new Map<string, object>();
  const contextFor = (plan: ServerTlsPlan): object => {
    const key = `${plan.verify ? 'verify' : 'any'}\0${plan.caPath ?? ''}`;
    let ctx = contexts.get(key);
    if (ctx === undefined) {
      ctx = native.serverTlsContext(plan.caPath !== undefined ? readCa(plan.caPath).toString('utf8') : undefined, plan.verify);
      contexts.set(key, ctx);
    }
    return ctx;
  };
  return async (socket, instance: DbInstance, timeoutMs) => {
    const target = `${instance.target.host}:${instance.target.port}`;
    const plan = serverTlsPlan(instance.target.host, instance.targetTls);
    let ctx: object;
    try {
      ctx = contextFor(plan);
    } catch (err) {
      socket.destroy();
      throw new IamdbError('GATEWAY_UPSTREAM_TLS_FAILED', { target, reason: `cannot use targetTls.ca: ${err instanceof Error ? err.message : String(err)}` });
    }
    const r = await native.connectTls(ctx, socket, plan.sniName, plan.expectedHost, timeoutMs);
    if (!r.ok) throw new IamdbError('GATEWAY_UPSTREAM_TLS_FAILED', { target, reason: nativeTlsFailure(r.reason, plan.expectedHost || undefined) });
    return { socket: r.link.socket, serverEndPoint: serverEndPointFromDer(r.link.peerCertificate), nativeTls: r.link.id };
  };
}
