/**
 * Transports: what carries a manager's structures.
 * @module
 */
export {
  parseTransport,
  Transport,
  type TransportConfig,
  type TransportImpl,
  type TransportOptions,
} from "./transport.ts";
export { SharedBufferTransport } from "./shared_buffer.ts";
export { attach, fromWire, type Handle, toWire } from "./_attach.ts";
