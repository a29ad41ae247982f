import type { IamdbError } from '../errors/index.js';

/** Exit codes by error kind: 2 for bad input (usage, config), 69 unavailable, 77 access denied, 1 otherwise. */
export function exitCodeFor(err: IamdbError): number {
  switch (err.kind) {
    case 'InvalidInput':
      return 2;
    case 'Unavailable':
      return 69;
    case 'AccessDenied':
      return 77;
    default:
      return 1;
  }
}
