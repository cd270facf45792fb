/**
 * claimWorkflow: one batch per tracker at a time (issue "The worker survives what the world throws at it"). A batch
 * claims its tracker, right after loading and before it writes anything, by starting this workflow as a child with
 * the id `claim-<trackerKey>` (a digest of the tickets folder's real path). Temporal refuses a second running
 * workflow with one id, so a second batch over the same tickets fails before starting any ticket, naming the claim;
 * every worker and `ratchet start` see the same claim because it lives in Temporal itself.
 *
 * How long it holds: a batch that continues as new (DESIGN.md "Scale-out") starts its claim abandoned, so the claim
 * outlives each run, and releases it when it finishes; the claim also checks every {@link CLAIM_CHECK_MS} that its
 * batch's workflow id still runs (a signal to a closed workflow fails), so a batch that was terminated or failed
 * frees its tracker within that time. Claims of older batches hold until their batch closes (parent close policy
 * TERMINATE).
 */
import { condition, defineQuery, defineSignal, getExternalWorkflowHandle, setHandler } from '@temporalio/workflow';
import { claimCheckSignal } from './messages';

/** Who holds a claim: the batch and its tickets folder. */
export interface ClaimHolder {
  batchId: string;
  ticketsDir: string;
  /** The holding batch's workflow id, for claims that outlive a run (absent in claims of older batches). */
  batchWorkflowId?: string;
}

export const claimHolderQuery = defineQuery<ClaimHolder>('holder');
/** Batch -> claim: the batch finished; the tracker is free. */
export const releaseClaimSignal = defineSignal('release');

/** How often a claim checks that its batch still runs: 5 minutes (ms). */
export const CLAIM_CHECK_MS = 5 * 60_000;

/** The claim's workflow id for a tracker key (from `loadBatch`). */
export const claimWorkflowId = (trackerKey: string): string => `claim-${trackerKey}`;

/** Holds the claim until its batch releases it or closes; answers `holder`. */
export async function claimWorkflow(holder: ClaimHolder): Promise<void> {
  setHandler(claimHolderQuery, () => holder);
  const { batchWorkflowId } = holder;
  if (batchWorkflowId === undefined) {
    await condition(() => false);
    return;
  }
  let released = false;
  setHandler(releaseClaimSignal, () => {
    released = true;
  });
  while (!(await condition(() => released, CLAIM_CHECK_MS))) {
    try {
      await getExternalWorkflowHandle(batchWorkflowId).signal(claimCheckSignal);
    } catch {
      return; // no run of the batch is open: the claim is stale
    }
  }
}
