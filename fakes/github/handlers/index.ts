/**
 * The operations the fake implements, by GitHub's operation id. Each handler gets a request already validated against
 * the OpenAPI description (path and query coerced to their types) and answers with a status and a body, or throws an
 * HttpError carrying GitHub's status and message. Messages are GitHub's where known; a handler's docstring says where
 * one is guessed. State changes announce webhook events through `core.emit`.
 */
import type { Handler } from './context';
import {
  addBlockedBy,
  addLabels,
  createComment,
  createIssue,
  createLabel,
  createMilestone,
  getComment,
  getIssue,
  getLabel,
  listBlockedBy,
  listComments,
  listEvents,
  listForRepo,
  listLabelsForRepo,
  listLabelsOnIssue,
  listMilestones,
  removeBlockedBy,
  removeLabel,
  setLabels,
  updateComment,
  updateIssue,
} from './issues';
import {
  checkIfMerged,
  createPull,
  createReview,
  getPull,
  listPulls,
  listReviewComments,
  listReviews,
  mergePull,
  updatePull,
} from './pulls';
import {
  combinedStatus,
  createCheckRun,
  createStatus,
  createWebhook,
  getBranch,
  getRepo,
  listCheckRunsForRef,
  listWebhooks,
} from './repos';

export type { Ctx, Handler, Reply } from './context';

/** Every implemented operation, by GitHub's operation id. */
export const HANDLERS: Readonly<Record<string, Handler>> = {
  'issues/list-for-repo': listForRepo,
  'issues/create': createIssue,
  'issues/get': getIssue,
  'issues/update': updateIssue,
  'issues/list-labels-for-repo': listLabelsForRepo,
  'issues/create-label': createLabel,
  'issues/get-label': getLabel,
  'issues/list-labels-on-issue': listLabelsOnIssue,
  'issues/add-labels': addLabels,
  'issues/set-labels': setLabels,
  'issues/remove-label': removeLabel,
  'issues/list-events': listEvents,
  'issues/list-milestones': listMilestones,
  'issues/create-milestone': createMilestone,
  'issues/list-comments': listComments,
  'issues/create-comment': createComment,
  'issues/get-comment': getComment,
  'issues/update-comment': updateComment,
  'issues/list-dependencies-blocked-by': listBlockedBy,
  'issues/add-blocked-by-dependency': addBlockedBy,
  'issues/remove-dependency-blocked-by': removeBlockedBy,
  'pulls/list': listPulls,
  'pulls/create': createPull,
  'pulls/get': getPull,
  'pulls/update': updatePull,
  'pulls/check-if-merged': checkIfMerged,
  'pulls/merge': mergePull,
  'pulls/list-reviews': listReviews,
  'pulls/create-review': createReview,
  'pulls/list-review-comments': listReviewComments,
  'repos/get-combined-status-for-ref': combinedStatus,
  'repos/create-commit-status': createStatus,
  'checks/list-for-ref': listCheckRunsForRef,
  'checks/create': createCheckRun,
  'repos/get': getRepo,
  'repos/get-branch': getBranch,
  'repos/create-webhook': createWebhook,
  'repos/list-webhooks': listWebhooks,
};
