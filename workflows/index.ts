/** Workflow entry points bundled into the worker: the public workflow types `batchWorkflow` and `ticketWorkflow`. */
export { batchWorkflow } from './batch';
export { ticketWorkflow } from './ticket';
