export { Secret, constantTimeEqual, constantTimeEqualStrings } from './secret.js';
export { type Clock, systemClock, fixedClock } from './clock.js';
