/**
 * The hub's view of the one error catalogue, which lives in src/shared/errors.ts so that kinds
 * (spawners, authenticators, hooks, volumes) throw the same codes. Kept so hub modules import
 * errors from one hub-local place.
 */
export { AtriumError, atriumError, catalogue, hasCode, isAtriumError, type AtriumErrorOptions, type ErrorCode, type LogLevel } from '../shared/errors.js';
