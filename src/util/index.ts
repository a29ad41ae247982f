export { Secret, constantTimeEqual, constantTimeEqualStrings } from './secret.js';
export { listenOn } from './listen.js';
export { type Clock, systemClock, fixedClock } from './clock.js';
