/**
 * Search attributes, from DESIGN.md's public contract. The dev-server launcher registers them; workflows upsert them.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RatchetBatch = defineSearchAttributeKey('RatchetBatch', SearchAttributeType.KEYWORD);
export const RatchetTicket = defineSearchAttributeKey('RatchetTicket', SearchAttributeType.KEYWORD);
export const RatchetPhase = defineSearchAttributeKey('RatchetPhase', SearchAttributeType.KEYWORD);
export const RatchetAttempt = defineSearchAttributeKey('RatchetAttempt', SearchAttributeType.INT);

export const SEARCH_ATTRIBUTES = [RatchetBatch, RatchetTicket, RatchetPhase, RatchetAttempt];
