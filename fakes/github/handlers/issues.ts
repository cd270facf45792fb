/**
 * Issues, labels and label events, milestones, comments and native "blocked by" dependencies. A pull request's issue
 * half goes through these too (its labels, comments, state), as on GitHub.
 */
import { HttpError, notFound, validationFailed } from '../core';
import { type CommentRecord, type IssueRecord, type LabelRecord, type MilestoneRecord, nodeId, now } from '../state';
import { type Ctx, type Handler, announceIssue, created, issueOf, newIssue, ok, setIssueState, sortBy, str } from './context';

// ---- labels ---------------------------------------------------------------------------------------------------

const DEFAULT_LABEL_COLOR = 'ededed';

function createLabelRecord(c: Ctx, name: string, color = DEFAULT_LABEL_COLOR, description: string | null = null): LabelRecord {
  const id = c.core.ids.next();
  const label: LabelRecord = { id, nodeId: nodeId('LA', id), name, color, description };
  c.repo.addLabel(label);
  return label;
}

/** Names from a body's `labels`: strings or `{ name }` objects (the description allows both). */
function labelNames(labels: unknown): string[] {
  if (!Array.isArray(labels)) return [];
  return labels.map((l) => (typeof l === 'string' ? l : str((l as Record<string, unknown>).name) ?? '')).filter((n) => n !== '');
}

type LabelChange = { event: 'labeled' | 'unlabeled'; label: LabelRecord };

/**
 * Adds (`add`) or replaces with (`set`) labels on `issue`; a label the repository lacks is created (as GitHub does).
 * Records `labeled`/`unlabeled` issue events with the actor and, unless `announce` is false, announces them (`issues`
 * or, for a pull request, `pull_request`).
 * @returns the changes, in the order they were recorded.
 */
async function changeLabels(c: Ctx, issue: IssueRecord, names: string[], mode: 'add' | 'set', announce = true): Promise<LabelChange[]> {
  const wanted = [...new Set(names.map((n) => (c.repo.label(n) ?? createLabelRecord(c, n)).name))];
  const removed = mode === 'set' ? issue.labels.filter((name) => !wanted.includes(name)) : [];
  const added = wanted.filter((name) => !issue.labels.includes(name));
  if (removed.length === 0 && added.length === 0) return [];
  issue.labels = [...issue.labels.filter((name) => !removed.includes(name)), ...added];
  issue.updatedAt = now();
  const changes: LabelChange[] = [];
  for (const [event, changed] of [['unlabeled', removed], ['labeled', added]] as const) {
    for (const name of changed) {
      const label = c.repo.label(name);
      if (label) changes.push(recordLabelEvent(c, issue, event, label));
    }
  }
  if (announce) await announceLabels(c, issue, changes);
  return changes;
}

function recordLabelEvent(c: Ctx, issue: IssueRecord, event: 'labeled' | 'unlabeled', label: LabelRecord): LabelChange {
  const id = c.core.ids.next();
  c.repo.events.push({
    id,
    nodeId: nodeId('LE', id),
    issueNumber: issue.number,
    event,
    actor: c.login,
    label: { name: label.name, color: label.color },
    createdAt: now(),
  });
  return { event, label };
}

async function announceLabels(c: Ctx, issue: IssueRecord, changes: LabelChange[]): Promise<void> {
  for (const { event, label } of changes) await announceIssue(c, issue, event, { label: c.core.views.label(c.repo, label) });
}

export const listLabelsForRepo: Handler = async (c) => {
  const { slice, headers } = c.page([...c.repo.labels.values()]);
  return ok(
    slice.map((l) => c.core.views.label(c.repo, l)),
    headers,
  );
};

export const createLabel: Handler = async (c) => {
  const body = c.body ?? {};
  const name = String(body.name).trim();
  const color = str(body.color)?.replace(/^#/, '') ?? DEFAULT_LABEL_COLOR;
  const description = str(body.description) ?? null;
  if (!name) throw validationFailed({ resource: 'Label', code: 'missing_field', field: 'name' });
  if (!/^[0-9a-fA-F]{6}$/.test(color)) throw validationFailed({ resource: 'Label', code: 'invalid', field: 'color' });
  if (description !== null && description.length > 100) throw validationFailed({ resource: 'Label', code: 'invalid', field: 'description' });
  if (c.repo.label(name)) throw validationFailed({ resource: 'Label', code: 'already_exists', field: 'name' });
  return created(c.core.views.label(c.repo, createLabelRecord(c, name, color.toLowerCase(), description)));
};

export const getLabel: Handler = async (c) => {
  const label = c.repo.label(String(c.path.name));
  if (!label) throw notFound();
  return ok(c.core.views.label(c.repo, label));
};

export const listLabelsOnIssue: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  const { slice, headers } = c.page(c.repo.labelsOf(issue));
  return ok(
    slice.map((l) => c.core.views.label(c.repo, l)),
    headers,
  );
};

export const addLabels: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  await changeLabels(c, issue, labelNames(c.body?.labels), 'add');
  return ok(c.repo.labelsOf(issue).map((l) => c.core.views.label(c.repo, l)));
};

export const setLabels: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  await changeLabels(c, issue, labelNames(c.body?.labels), 'set');
  return ok(c.repo.labelsOf(issue).map((l) => c.core.views.label(c.repo, l)));
};

export const removeLabel: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  const label = c.repo.label(String(c.path.name));
  if (!label || !issue.labels.includes(label.name)) throw notFound('Label does not exist');
  issue.labels = issue.labels.filter((name) => name !== label.name);
  issue.updatedAt = now();
  await announceLabels(c, issue, [recordLabelEvent(c, issue, 'unlabeled', label)]);
  return ok(c.repo.labelsOf(issue).map((l) => c.core.views.label(c.repo, l)));
};

export const listEvents: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  const { slice, headers } = c.page(c.repo.events.filter((e) => e.issueNumber === issue.number));
  return ok(
    slice.map((e) => c.core.views.event(c.repo, e)),
    headers,
  );
};

// ---- issues ---------------------------------------------------------------------------------------------------

/** A milestone number from a body's `milestone` (number, numeric string or null). */
function milestoneFrom(c: Ctx, value: unknown): number | null {
  if (value === null) return null;
  const number = Number(value);
  if (!Number.isInteger(number) || !c.repo.milestones.has(number)) {
    throw validationFailed({ resource: 'Issue', field: 'milestone', code: 'invalid', value: value as string | number });
  }
  return number;
}

/** Assignees must be people the fake knows (GitHub: users who can be assigned). */
function assigneesFrom(c: Ctx, body: Record<string, unknown>): string[] | undefined {
  const list = Array.isArray(body.assignees)
    ? body.assignees.map((a) => (typeof a === 'string' ? a : String((a as Record<string, unknown>).login)))
    : typeof body.assignee === 'string'
      ? [body.assignee]
      : body.assignee === null
        ? []
        : undefined;
  for (const login of list ?? []) {
    if (c.core.isOrganization(login)) throw validationFailed({ resource: 'Issue', field: 'assignees', code: 'invalid', value: login });
  }
  return list;
}

export const listForRepo: Handler = async (c) => {
  const q = c.query;
  const state = str(q.state) ?? 'open';
  const labels = (str(q.labels) ?? '')
    .split(',')
    .map((l) => l.trim().toLowerCase())
    .filter(Boolean);
  const milestone = str(q.milestone);
  const assignee = str(q.assignee);
  const since = str(q.since);
  let items = [...c.repo.issues.values()].filter((i) => state === 'all' || i.state === state);
  if (labels.length) {
    items = items.filter((i) => {
      const names = new Set(c.repo.labelsOf(i).map((l) => l.name.toLowerCase()));
      return labels.every((l) => names.has(l));
    });
  }
  if (milestone === '*') items = items.filter((i) => i.milestone !== null);
  else if (milestone === 'none') items = items.filter((i) => i.milestone === null);
  else if (milestone !== undefined) items = items.filter((i) => String(i.milestone) === milestone);
  if (assignee === '*') items = items.filter((i) => i.assignees.length > 0);
  else if (assignee === 'none') items = items.filter((i) => i.assignees.length === 0);
  else if (assignee !== undefined) items = items.filter((i) => i.assignees.includes(assignee));
  if (str(q.creator) !== undefined) items = items.filter((i) => i.user === q.creator);
  if (since !== undefined) items = items.filter((i) => i.updatedAt >= since);
  const sort = str(q.sort) ?? 'created';
  const comments = (i: IssueRecord): number => c.repo.commentsOn(i.number).length;
  const key = sort === 'updated' ? (i: IssueRecord) => i.updatedAt : sort === 'comments' ? comments : (i: IssueRecord) => i.number;
  const { slice, headers } = c.page(sortBy(items, key, q.direction));
  return ok(
    slice.map((i) => c.core.views.issue(c.repo, i)),
    headers,
  );
};

export const createIssue: Handler = async (c) => {
  const body = c.body ?? {};
  const title = String(body.title).trim();
  if (!title) throw validationFailed({ resource: 'Issue', field: 'title', code: 'missing_field' });
  const milestone = body.milestone === undefined ? null : milestoneFrom(c, body.milestone);
  const assignees = assigneesFrom(c, body) ?? [];
  const issue = newIssue(c, title, str(body.body) ?? null, false);
  issue.milestone = milestone;
  issue.assignees = assignees;
  // GitHub sends `opened` (with the labels) first, then one `labeled` per label.
  const labelled = await changeLabels(c, issue, labelNames(body.labels), 'add', false);
  c.core.emit(c.repo, 'issues', c.login, { action: 'opened', issue: c.core.views.issue(c.repo, issue) });
  await announceLabels(c, issue, labelled);
  return created(c.core.views.issue(c.repo, issue));
};

export const getIssue: Handler = async (c) => ok(c.core.views.issue(c.repo, issueOf(c, c.path.issue_number)));

export const updateIssue: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  const body = c.body ?? {};
  if (body.title !== undefined && body.title !== null) {
    const title = String(body.title).trim();
    if (!title) throw validationFailed({ resource: 'Issue', field: 'title', code: 'missing_field' });
    issue.title = title;
  }
  if (body.body !== undefined) issue.body = str(body.body) ?? null;
  if (body.milestone !== undefined) issue.milestone = milestoneFrom(c, body.milestone);
  const assignees = assigneesFrom(c, body);
  if (assignees) issue.assignees = assignees;
  issue.updatedAt = now();
  if (Array.isArray(body.labels)) await changeLabels(c, issue, labelNames(body.labels), 'set');
  const state = str(body.state) as 'open' | 'closed' | undefined;
  const reason = (str(body.state_reason) ?? null) as IssueRecord['stateReason'];
  if (state) await setIssueState(c, issue, state, reason);
  return ok(c.core.views.issue(c.repo, issue));
};

// ---- milestones -----------------------------------------------------------------------------------------------

export const listMilestones: Handler = async (c) => {
  const state = str(c.query.state) ?? 'open';
  const items = [...c.repo.milestones.values()].filter((m) => state === 'all' || m.state === state);
  const openIssues = (n: number): number => [...c.repo.issues.values()].filter((i) => i.milestone === n && i.state === 'open').length;
  const key = c.query.sort === 'completeness' ? (m: MilestoneRecord) => -openIssues(m.number) : (m: MilestoneRecord) => m.dueOn ?? '9999';
  const { slice, headers } = c.page(sortBy(items, key, c.query.direction, 'asc'));
  return ok(
    slice.map((m) => c.core.views.milestone(c.repo, m)),
    headers,
  );
};

export const createMilestone: Handler = async (c) => {
  const body = c.body ?? {};
  const title = String(body.title);
  if ([...c.repo.milestones.values()].some((m) => m.title === title)) throw validationFailed({ resource: 'Milestone', code: 'already_exists', field: 'title' });
  const id = c.core.ids.next();
  const at = now();
  const state = (str(body.state) ?? 'open') as 'open' | 'closed';
  const m: MilestoneRecord = {
    id,
    nodeId: nodeId('MI', id),
    number: c.repo.nextMilestoneNumber(),
    title,
    description: str(body.description) ?? null,
    state,
    dueOn: str(body.due_on) ?? null,
    creator: c.login,
    createdAt: at,
    updatedAt: at,
    closedAt: state === 'closed' ? at : null,
  };
  c.repo.milestones.set(m.number, m);
  return created(c.core.views.milestone(c.repo, m));
};

// ---- comments -------------------------------------------------------------------------------------------------

export const listComments: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  const since = str(c.query.since);
  const items = c.repo.commentsOn(issue.number).filter((x) => since === undefined || x.updatedAt >= since);
  const { slice, headers } = c.page(items);
  return ok(
    slice.map((x) => c.core.views.comment(c.repo, x)),
    headers,
  );
};

export const createComment: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  const body = String(c.body?.body ?? '');
  if (!body.trim()) throw validationFailed({ resource: 'IssueComment', field: 'body', code: 'missing_field' });
  const id = c.core.ids.next();
  const at = now();
  const comment: CommentRecord = { id, nodeId: nodeId('IC', id), issueNumber: issue.number, body, user: c.login, createdAt: at, updatedAt: at };
  c.repo.comments.set(id, comment);
  issue.updatedAt = at;
  const view = c.core.views.comment(c.repo, comment);
  c.core.emit(c.repo, 'issue_comment', c.login, { action: 'created', issue: c.core.views.issue(c.repo, issue), comment: view });
  return created(view);
};

export const getComment: Handler = async (c) => {
  const comment = c.repo.comments.get(Number(c.path.comment_id));
  if (!comment) throw notFound();
  return ok(c.core.views.comment(c.repo, comment));
};

export const updateComment: Handler = async (c) => {
  const comment = c.repo.comments.get(Number(c.path.comment_id));
  if (!comment) throw notFound();
  const body = String(c.body?.body ?? '');
  if (!body.trim()) throw validationFailed({ resource: 'IssueComment', field: 'body', code: 'missing_field' });
  const from = comment.body;
  comment.body = body;
  comment.updatedAt = now();
  const view = c.core.views.comment(c.repo, comment);
  const issue = c.repo.issues.get(comment.issueNumber);
  if (issue && from !== body) {
    c.core.emit(c.repo, 'issue_comment', c.login, {
      action: 'edited',
      changes: { body: { from } },
      issue: c.core.views.issue(c.repo, issue),
      comment: view,
    });
  }
  return ok(view);
};

// ---- dependencies ---------------------------------------------------------------------------------------------

export const listBlockedBy: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  const blockers = c.repo.dependencies
    .filter((d) => d.blockedNumber === issue.number)
    .map((d) => c.core.issueById(d.blockingId))
    .filter((x) => x !== undefined);
  const { slice, headers } = c.page(blockers);
  return ok(
    slice.map((b) => c.core.views.issue(b.repo, b.issue)),
    headers,
  );
};

/**
 * Adds "blocked by": the body's `issue_id` is the blocking issue's global `id` (not its number) in any repository of
 * the fake. A pull request cannot block ("Target issue may only be an issue", GitHub's words); an existing edge and
 * an issue blocking itself are refused with 422 (wording guessed).
 */
export const addBlockedBy: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  const blockingId = Number(c.body?.issue_id);
  const blocking = c.core.issueById(blockingId);
  const refuse = (message: string): HttpError => validationFailed({ resource: 'IssueDependency', field: 'issue_id', code: 'custom', message });
  if (!blocking) throw refuse(`Could not find an issue with id ${blockingId}`);
  if (blocking.issue.pull) throw refuse('Target issue may only be an issue');
  if (blocking.issue.id === issue.id) throw refuse('An issue cannot be blocked by itself');
  if (c.repo.dependencies.some((d) => d.blockedNumber === issue.number && d.blockingId === blockingId)) {
    throw refuse('Issue is already blocked by this issue');
  }
  c.repo.dependencies.push({ blockedNumber: issue.number, blockingId });
  const view = c.core.views.issue(blocking.repo, blocking.issue);
  return {
    status: 201,
    body: view,
    headers: { location: `${c.core.base}/repos/${c.repo.fullName}/issues/${issue.number}/dependencies/blocked_by` },
  };
};

export const removeBlockedBy: Handler = async (c) => {
  const issue = issueOf(c, c.path.issue_number);
  const blockingId = Number(c.path.issue_id);
  const at = c.repo.dependencies.findIndex((d) => d.blockedNumber === issue.number && d.blockingId === blockingId);
  const blocking = c.core.issueById(blockingId);
  if (at < 0 || !blocking) throw notFound();
  c.repo.dependencies.splice(at, 1);
  return ok(c.core.views.issue(blocking.repo, blocking.issue));
};
