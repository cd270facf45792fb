/**
 * Typed client library over @temporalio/client: everything the `ratchet` CLI does, callable from code, one file per
 * topic. It speaks only the public contract in workflows/messages.ts, so anything here can also be done with the
 * Temporal CLI or Web UI (see {@link equivalentTemporalCommand}).
 */
export { connect, defaultAddress, defaultNamespace, DEFAULT_ADDRESS, DEFAULT_NAMESPACE } from './connection';
export { loadBatchFile, type StartableBatch } from './batch-file';
export { startBatch } from './start';
export { batchStatus, ticketStatus } from './status';
export { approve, equivalentTemporalCommand, reject, resume } from './gates';
export { formatChange, joinTicketReports, watchBatch, type WatchChange, type WatchOptions } from './watch';
export { formatReport } from './format';
export * from './errors';
export * from '../workflows/errors';
