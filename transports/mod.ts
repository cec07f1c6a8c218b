/**
 * Transports: what carries a manager's structures.
 * @module
 */
export {
  formatTransport,
  parseTransport,
  type TransportConfig,
  type TransportImpl,
  type TransportOptions,
  type TransportProvider,
} from "./transport.ts";
