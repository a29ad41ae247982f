export { catalog, type ErrorCode } from './catalog.js';
export { IamdbError, isIamdbError, type ErrorDetails } from './iamdb-error.js';
export type { ErrorKind, ErrorSpec } from './types.js';
