/** Packets captured for this folder's tests, framed (header included), with their origin. */
import { hex } from './hex.js';

// Captured 2026-11-23 from the system MariaDB 10.11.19 on 127.0.0.1:3306 (framed, seq 0).
export const MARIADB_GREETING = hex(`
  64 00 00 00 0a 35 2e 35 2e 35 2d 31 30 2e 31 31 2e 31 39 2d 4d 61 72 69 61 44 42 2d 30 2b 64 65 62 31 32 75 31 00
  0a 00 00 00  51 3d 7b 77 64 6e 7a 3b  00  fe f7  2d  02 00  ff 81  15  00 00 00 00 00 00  1d 00 00 00
  57 24 49 26 21 6f 2e 37 66 21 6c 7d 00  6d 79 73 71 6c 5f 6e 61 74 69 76 65 5f 70 61 73 73 77 6f 72 64 00`);
// Captured the same day: mysql2 3.24.6 answering that greeting (user app, password pw, database db1).
export const MYSQL2_RESPONSE = hex(`
  85 00 00 01  ce f3 ba 08  00 00 00 e0  00  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  00 00 00 00
  61 70 70 00  14 18 e3 8c 51 aa 5d 47 0e 77 d8 20 bd 36 ca a1 3b 22 1a 5b aa  64 62 31 00
  6d 79 73 71 6c 5f 6e 61 74 69 76 65 5f 70 61 73 73 77 6f 72 64 00
  31 0c 5f 63 6c 69 65 6e 74 5f 6e 61 6d 65 0c 4e 6f 64 65 2d 4d 79 53 51 4c 2d 32 0f 5f 63 6c 69 65 6e 74 5f 76 65 72 73 69 6f 6e 06 33 2e 32 34 2e 36`);
// Captured the same day: the mariadb 10.11 CLI (libmariadb 3.3.20) answering that greeting.
export const MARIADB_CLI_RESPONSE = hex(`
  d3 00 00 01  8c a2 bf 00  00 00 00 10  21  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  1d 00 00 00
  61 70 70 00  14 18 e3 8c 51 aa 5d 47 0e 77 d8 20 bd 36 ca a1 3b 22 1a 5b aa  64 62 31 00
  6d 79 73 71 6c 5f 6e 61 74 69 76 65 5f 70 61 73 73 77 6f 72 64 00
  7f 03 5f 6f 73 05 4c 69 6e 75 78 0c 5f 63 6c 69 65 6e 74 5f 6e 61 6d 65 0a 6c 69 62 6d 61 72 69 61 64 62
  04 5f 70 69 64 05 32 33 34 34 30 0f 5f 63 6c 69 65 6e 74 5f 76 65 72 73 69 6f 6e 06 33 2e 33 2e 32 30
  09 5f 70 6c 61 74 66 6f 72 6d 06 78 38 36 5f 36 34 0c 70 72 6f 67 72 61 6d 5f 6e 61 6d 65 05 6d 79 73 71 6c
  0c 5f 73 65 72 76 65 72 5f 68 6f 73 74 09 31 32 37 2e 30 2e 30 2e 31`);

