/**
 * ratchet's git: worktrees per attempt, commits, merges into the base branch, remotes. One {@link Git} per worker
 * (built by `createActivities`) runs the commands and holds the repository locks and caches; the functions take it
 * first, take plain absolute paths and return plain data, and every one is safe to repeat after a crash.
 * - git.ts: the client (running commands, locks, caches); process.ts: the process the commands run in.
 * - parse.ts: pure parsers of git's output.
 * - repository.ts: checks and reads (refs, diffs, digests, excludes); worktrees.ts; merges.ts; remotes.ts.
 */
export { canonical, Git } from './git';
export { GitProcess, type GitOutcome } from './process';
export { nulList, parseLsTree, parseMergeTree, parseStatusPaths, parseWorktreeList, pathsInTheWay, type MergeTreeOutput, type WorktreeEntry } from './parse';
export { assertGitRepo, blobDigests, changedPaths, diffText, ensureExcluded, hasCommit, headOf, isAncestor } from './repository';
export { baseCheckout, commitAll, POOL_DIR, POOL_MAX, prepareWorktree, releaseWorktree, removeWorktree } from './worktrees';
export { advanceBase, chainMerges, firstParentSince, firstParentWith, landedMerge, landedSince, MERGE_TRIES, mergeBranch, mergeOnto, revertOnto, type CandidatePart } from './merges';
export { fetchBranch, pushCommit, remoteAuthEnv, syncBase } from './remotes';
