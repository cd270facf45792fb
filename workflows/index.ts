/**
 * Workflow entry points bundled into the worker: the public workflow types `batchWorkflow` and `ticketWorkflow`,
 * and three helpers of theirs: `claimWorkflow` (one batch per tracker), `checkBatchWorkflow` (what `ratchet start`
 * runs to refuse bad input before starting anything) and `lockWorkflow` (one merge into a base, one deploy to a
 * target at a time, deployment-wide).
 */
export { batchWorkflow, checkBatchWorkflow } from './batch';
export { claimWorkflow } from './claim';
export { lockWorkflow } from './lock';
export { ticketWorkflow } from './ticket';
