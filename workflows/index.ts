/**
 * Workflow entry points bundled into the worker: the public workflow types `batchWorkflow` and `ticketWorkflow`,
 * and two helpers of theirs: `claimWorkflow` (one batch per tracker) and `checkBatchWorkflow` (what `ratchet start`
 * runs to refuse bad input before starting anything).
 */
export { batchWorkflow, checkBatchWorkflow } from './batch';
export { claimWorkflow } from './claim';
export { ticketWorkflow } from './ticket';
