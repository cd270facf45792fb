/**
 * A person's edit of an epic's proposed sub-tickets at the `decomposition` gate: an RFC 6902 JSON patch (fast-json-patch)
 * applied to the list as proposed (paths such as `/1/title`, `/-` to add one, `/2` to remove one). The edited list is
 * checked again (check.ts) before anything is filed. Pure: no I/O; tested in test/unit/epic.test.ts.
 */
import { applyPatch, validate, type Operation } from 'fast-json-patch';

/**
 * Applies `patch` to a copy of `list` (which is left as it was).
 * @returns the edited list, or the problem naming the operation, its path and the fix.
 */
export function applyEdits(list: readonly unknown[], patch: readonly unknown[]): { list: unknown[] } | { problem: string } {
  const copy = JSON.parse(JSON.stringify(list)) as unknown[];
  const ops = patch as Operation[];
  const invalid = validate(ops, copy);
  if (invalid) return { problem: problemOf(invalid, ops) };
  try {
    const edited = applyPatch(copy, ops, true, true).newDocument as unknown;
    if (!Array.isArray(edited)) return { problem: 'the patch replaced the whole list with something else; fix: patch the sub-tickets in it (paths such as /1/title)' };
    return { list: edited };
  } catch (err) {
    return { problem: problemOf(err as Error, ops) };
  }
}

function problemOf(err: Error & { index?: number }, ops: readonly Operation[]): string {
  const i = err.index ?? 0;
  const op = ops[i] as Partial<Operation> | undefined;
  const what = op && typeof op === 'object' ? `${String(op.op)} ${String(op.path)}` : JSON.stringify(op);
  const why = err.message.split('\n')[0];
  return `the patch's operation ${i + 1} (${what}) cannot be applied: ${why}; fix: an RFC 6902 operation on the list as shown (paths such as /1/title, indexes from 0)`;
}
