/**
 * Scrambles (nonces) iamdb sends in its own HandshakeV10 and
 * AuthSwitchRequest packets.
 */
import { randomBytes } from 'node:crypto';

/**
 * 20 random bytes in 0x21..0x7E: never NUL (clients read the second part as a
 * C string) and printable, like the servers' own scrambles.
 */
export function createScramble(random: (n: number) => Buffer = randomBytes): Buffer {
  const out = Buffer.allocUnsafe(20);
  let filled = 0;
  while (filled < 20) {
    for (const b of random(32)) {
      // 94 printable values; rejection sampling keeps them uniform.
      if (b < 188 && filled < 20) out[filled++] = 0x21 + (b % 94);
    }
  }
  return out;
}
