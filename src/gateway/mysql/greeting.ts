/**
 * The gateway's own greeting (HandshakeV10) for MySQL endpoints. The gateway
 * greets a client before it opens any server connection for it (an idle or
 * unauthenticated client must hold none), so it needs to know what the
 * server would have said: its version, capabilities and character set. That
 * is the endpoint's *server profile*: learned before the first client from a
 * server login of the gateway's own (profile-login.ts: the greeting read by
 * the gateway's codec, a completed master login, COM_QUIT), refreshed from
 * every server greeting a login sees, and a conservative default while the
 * server cannot be reached.
 *
 * The scramble and the connection id are the gateway's own (see
 * connection-ids.ts); a password user is switched to the server's scramble
 * once its server connection exists (session.ts).
 */
import { AuthPlugin, Capability, MariadbCapability, createScramble, type HandshakeV10 } from '../../protocol/mysql/index.js';
import type { ServerProfile } from './control.js';

/**
 * Capabilities the gateway never offers a client:
 * - compression (the relay does not decompress) and LOCAL INFILE (rogue-server file reads);
 * - CLIENT_QUERY_ATTRIBUTES and CLIENT_OPTIONAL_RESULTSET_METADATA (MySQL 8): they change the
 *   layout of COM_QUERY and of result sets, which the gateway reads to find account statements
 *   and response boundaries;
 * - client-only flags a server never announces.
 */
export const STRIPPED_CAPS =
  (Capability.CLIENT_COMPRESS |
    Capability.CLIENT_LOCAL_FILES |
    Capability.CLIENT_ZSTD_COMPRESSION_ALGORITHM |
    Capability.CLIENT_QUERY_ATTRIBUTES |
    Capability.CLIENT_OPTIONAL_RESULTSET_METADATA |
    Capability.CLIENT_SSL_VERIFY_SERVER_CERT |
    Capability.CLIENT_REMEMBER_OPTIONS) >>>
  0;

/**
 * MariaDB extended capabilities the gateway offers when the server has them:
 * extended metadata only changes what column definitions hold. COM_MULTI,
 * bulk execution, cached metadata and progress reports change how commands
 * and responses are framed, and are not offered.
 */
export const KEPT_MARIADB_CAPS = MariadbCapability.MARIADB_CLIENT_EXTENDED_METADATA;

/** Capabilities any MySQL 5.7+ / MariaDB 10.x server has; used until the real server is known. */
const BASELINE_CAPS =
  (Capability.CLIENT_LONG_FLAG |
    Capability.CLIENT_CONNECT_WITH_DB |
    Capability.CLIENT_PROTOCOL_41 |
    Capability.CLIENT_TRANSACTIONS |
    Capability.CLIENT_SECURE_CONNECTION |
    Capability.CLIENT_MULTI_STATEMENTS |
    Capability.CLIENT_MULTI_RESULTS |
    Capability.CLIENT_PS_MULTI_RESULTS |
    Capability.CLIENT_PLUGIN_AUTH |
    Capability.CLIENT_CONNECT_ATTRS |
    Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
    Capability.CLIENT_FOUND_ROWS |
    Capability.CLIENT_IGNORE_SPACE |
    Capability.CLIENT_INTERACTIVE |
    Capability.CLIENT_IGNORE_SIGPIPE) >>>
  0;

/** What to say before the server has ever been reached. */
export function defaultProfile(engineName: 'mysql' | 'mariadb' | 'postgres'): ServerProfile {
  const mariadb = engineName === 'mariadb';
  return {
    // The 5.5.5- prefix is how MariaDB tells old clients its real version follows.
    serverVersion: mariadb ? '5.5.5-10.11.0-MariaDB' : '8.0.0',
    // MariaDB clears CLIENT_LONG_PASSWORD (bit 0) to say "MariaDB"; MySQL sets it.
    capabilityFlags: (BASELINE_CAPS | (mariadb ? 0 : Capability.CLIENT_LONG_PASSWORD)) >>> 0,
    mariadbCapabilities: 0,
    characterSet: 45,
    statusFlags: 0x0002,
  };
}

/** How long a client's greeting waits for the server's profile when it is not known yet. */
export const GREETING_PROFILE_WAIT_MS = 1_000;

/** The endpoint's current idea of its server. */
export class ServerProfileCache {
  #profile: ServerProfile;
  #known = false;
  #learning: Promise<void> | undefined;

  constructor(
    engineName: 'mysql' | 'mariadb' | 'postgres',
    private readonly fetch: () => Promise<ServerProfile>,
    /** Told each version the server announces (RDS's EngineVersion comes from it). */
    private readonly onServerVersion: (version: string) => void = () => undefined,
    /** Told why a `fetch` failed (the process log): clients are greeted with the default meanwhile. */
    private readonly onFetchFailed: (err: unknown) => void = () => undefined,
  ) {
    this.#profile = defaultProfile(engineName);
  }

  get current(): ServerProfile {
    return this.#profile;
  }

  /** Whether the profile comes from the server itself. */
  get known(): boolean {
    return this.#known;
  }

  /**
   * Asks `fetch` (a server login of the gateway's own, profile-login.ts) once
   * (concurrent callers share the question) until it has succeeded;
   * failures are retried on a later call.
   */
  ensure(): Promise<void> {
    if (this.#known) return Promise.resolve();
    this.#learning ??= this.fetch()
      .then((p) => this.#set(p))
      .catch((err: unknown) => this.onFetchFailed(err))
      .finally(() => {
        this.#learning = undefined;
      });
    return this.#learning;
  }

  /** `ensure()`, waited for at most `ms` (a client's greeting cannot wait long): resolves either way. */
  async waitKnown(ms: number): Promise<void> {
    if (this.#known) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.ensure(), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
  }

  /** A server greeting seen on a login: the freshest word on what the server offers. */
  learn(greeting: HandshakeV10): void {
    this.#set({
      serverVersion: greeting.serverVersion,
      capabilityFlags: greeting.capabilityFlags,
      mariadbCapabilities: greeting.mariadbCapabilities,
      characterSet: greeting.characterSet,
      statusFlags: greeting.statusFlags,
    });
  }

  #set(p: ServerProfile): void {
    this.#profile = p;
    this.#known = true;
    this.onServerVersion(p.serverVersion);
  }
}

/** Capabilities the gateway announces: the server's, minus what it never offers, plus TLS. */
export function offeredCapabilities(profile: ServerProfile): number {
  return (
    ((profile.capabilityFlags & ~STRIPPED_CAPS) |
      Capability.CLIENT_SSL |
      Capability.CLIENT_PROTOCOL_41 |
      Capability.CLIENT_SECURE_CONNECTION |
      Capability.CLIENT_PLUGIN_AUTH) >>>
    0
  );
}

/** The gateway's greeting for one client: the server's profile, the gateway's id and scramble. */
export function gatewayGreeting(profile: ServerProfile, connectionId: number): Omit<HandshakeV10, 'type'> {
  return {
    serverVersion: profile.serverVersion,
    connectionId,
    authPluginData: createScramble(),
    capabilityFlags: offeredCapabilities(profile),
    characterSet: profile.characterSet,
    statusFlags: profile.statusFlags,
    mariadbCapabilities: (profile.mariadbCapabilities & KEPT_MARIADB_CAPS) >>> 0,
    authPluginName: AuthPlugin.MYSQL_NATIVE_PASSWORD,
  };
}
