/**
 * How an endpoint learns its server profile before it greets its first
 * client: one real server login of the gateway's own. The greeting is read
 * by the gateway's codec (openServer, which hands it to the profile cache),
 * so the profile holds everything a client's server login would show, the
 * MariaDB extended capabilities included; mysql2's parsed handshake (the
 * control connection's) skips those bytes and cannot tell.
 *
 * The login is completed, not abandoned: the gateway logs in with
 * credentials it holds (the instance's master) and leaves with COM_QUIT.
 * MySQL and MariaDB count a handshake cut short against the gateway's host
 * (max_connect_errors), and log an aborted connection for a logged-in
 * client that goes without COM_QUIT; a completed login and COM_QUIT leave
 * neither. Should the login fail (the master's password changed) the
 * greeting has still been learned, and the server's refusal ends the
 * handshake; a login the gateway cannot go on with (a plugin it cannot
 * answer) is ended through abandonServerLink.
 */
import { encodePacket } from '../../protocol/mysql/index.js';
import type { DbInstance } from '../../rds/index.js';
import type { Secret } from '../../util/index.js';
import { LoginFailed } from '../session-common.js';
import type { ServerProfile } from './control.js';
import type { ServerProfileCache } from './greeting.js';
import { abandonServerLink, credentialLogin, openServer, type ServerLink } from './upstream.js';

/** The largest packet a profile login reads (greeting, auth exchange, OK). */
const PROFILE_LOGIN_MAX_PACKET = 1 << 20;

/** Who the profile login is in the server's processlist (performance_schema.session_connect_attrs). */
const PROGRAM_NAME = 'iamdb-profile';

/**
 * Opens a server connection (its greeting goes to `profile`), logs in as
 * `credential`, quits with COM_QUIT, and returns the profile the greeting
 * showed. Rejects when the server cannot be reached or the login fails (the
 * profile has learned the greeting all the same when it came).
 */
export async function learnProfileByLogin(
  instance: DbInstance,
  credential: { readonly username: string; readonly password: Secret<string> },
  profile: ServerProfileCache,
  timeoutMs: number,
): Promise<ServerProfile> {
  const link: ServerLink = await openServer(instance, timeoutMs, profile, PROFILE_LOGIN_MAX_PACKET);
  // A server that does not finish the login in time: the socket is closed (the pending read then
  // fails). abandonServerLink cannot take over a link whose login is still reading, and a server
  // this slow is not one whose host-error count a clean end would spare.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    link.socket.destroy();
  }, timeoutMs);
  timer.unref();
  try {
    await credentialLogin(link, instance, credential, {
      timeoutMs,
      maxPacket: PROFILE_LOGIN_MAX_PACKET,
      attributes: [['program_name', PROGRAM_NAME]],
      refused: (e) => new LoginFailed('UpstreamAuthFailed', undefined, `${e.errno}: ${e.message}`),
      failed: (reason) => new LoginFailed('UpstreamAuthFailed', undefined, reason),
    });
    link.socket.end(encodePacket(Buffer.from([0x01 /* COM_QUIT */]), 0));
    const g = link.greeting;
    return { serverVersion: g.serverVersion, capabilityFlags: g.capabilityFlags, mariadbCapabilities: g.mariadbCapabilities, characterSet: g.characterSet, statusFlags: g.statusFlags };
  } catch (err) {
    // A refused login is over (the server sent its ERR); one the gateway could not go on with is ended properly.
    if (link.phase === 'done' || timedOut) link.socket.destroy();
    else abandonServerLink(link);
    throw timedOut ? new Error(`the profile login did not complete within ${timeoutMs} ms`, { cause: err }) : err;
  } finally {
    clearTimeout(timer);
  }
}
