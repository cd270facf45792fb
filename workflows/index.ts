/**
 * Workflow entry points bundled into the worker: the public workflow types `batchWorkflow` and `ticketWorkflow`,
 * and five helpers of theirs: `claimWorkflow` (one batch per tracker), `checkBatchWorkflow` (what `ratchet start`
 * runs to refuse bad input before starting anything), `lockWorkflow` (one deploy to a target at a time,
 * deployment-wide) and `mergeQueueWorkflow` (what lands on a base is what was validated, deployment-wide), `guardWorkflow` (a
 * batch's done tickets stay done).
 */
export { batchWorkflow, checkBatchWorkflow } from './batch';
export { claimWorkflow } from './claim';
export { guardWorkflow } from './guard';
export { lockWorkflow } from './lock';
export { mergeQueueWorkflow } from './merge-queue';
export { ticketWorkflow } from './ticket';
