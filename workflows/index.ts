/**
 * Workflow entry points bundled into the worker: the public workflow types `batchWorkflow` and `ticketWorkflow`,
 * five helpers of theirs `claimWorkflow` (one batch per tracker), `checkBatchWorkflow` (what `ratchet start`
 * runs to refuse bad input before starting anything), `lockWorkflow` (one deploy to a target at a time,
 * deployment-wide) and `mergeQueueWorkflow` (what lands on a base is what was validated, deployment-wide), `guardWorkflow` (a
 * batch's done tickets stay done); and the watch's `watchRunWorkflow` (what a watch's Schedule starts) and
 * `signatureWorkflow` (one per failure signature, issue 27) and `fixCapWorkflow` (a watch's fix caps).
 */
export { batchWorkflow, checkBatchWorkflow } from './batch';
export { claimWorkflow } from './claim';
export { guardWorkflow } from './guard';
export { lockWorkflow } from './lock';
export { mergeQueueWorkflow } from './merge-queue';
export { ticketWorkflow } from './ticket';
export { signatureWorkflow } from './watch/signature';
export { watchRunWorkflow } from './watch/run';
export { fixCapWorkflow } from './watch/caps';
