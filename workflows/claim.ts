/**
 * claimWorkflow: one batch per tracker at a time (issue "The worker survives what the world throws at it"). A batch
 * claims its tracker, right after loading and before it writes anything, by starting this workflow as a child with
 * the id `claim-<trackerKey>` (a digest of the tickets folder's real path). Temporal refuses a second running
 * workflow with one id, so a second batch over the same tickets fails before starting any ticket, naming the claim;
 * every worker and `ratchet start` see the same claim because it lives in Temporal itself. The claim holds until its
 * batch closes (parent close policy TERMINATE), whichever worker ran it.
 */
import { condition, defineQuery, setHandler } from '@temporalio/workflow';

/** Who holds a claim: the batch and its tickets folder. */
export interface ClaimHolder {
  batchId: string;
  ticketsDir: string;
}

export const claimHolderQuery = defineQuery<ClaimHolder>('holder');

/** The claim's workflow id for a tracker key (from `loadBatch`). */
export const claimWorkflowId = (trackerKey: string): string => `claim-${trackerKey}`;

/** Holds the claim until the batch that started it closes; answers `holder`. */
export async function claimWorkflow(holder: ClaimHolder): Promise<void> {
  setHandler(claimHolderQuery, () => holder);
  await condition(() => false);
}
