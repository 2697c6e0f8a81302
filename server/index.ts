// The package entry ("tspuma"): the wrappers, defineConfig, start() and the public types,
// re-exported, nothing else.
export { rack, fetchHandler, nodeListener } from './adapters.js';
export { defineConfig } from './options.js';
export { ERRORS, TspumaError } from './errors.js';
export { start } from './start.js';
export type { StartOptions } from './start.js';
export type { Running } from './single.js';
export type { Stats } from './server.js';
export type { TspumaConfig, Options } from './options.js';
export type { ErrorCode } from './errors.js';
export type {
  AnyResponse,
  Body,
  FetchApp,
  FetchBindings,
  FetchHandler,
  Hook,
  LowlevelErrorHandler,
  NodeListener,
  PlainResponse,
  RackApp,
  RackEnv,
  RackHeaders,
  RackResponse,
  UpgradeHandler,
  WebSocketHandler,
} from './app-types.js';
