/**
 * Pure parsers of what ratchet's git commands print (no I/O; after simple-git's parsers kept apart from the code
 * that runs processes). Each names the command and the options whose output it reads.
 */

/** The fields of a `-z` output (NUL-separated), empty ones dropped. */
export const nulList = (out: string): string[] => out.split('\0').filter(Boolean);

/** One entry of `git worktree list --porcelain`. The first entry is always the main working tree. */
export interface WorktreeEntry {
  path: string;
  head?: string;
  /** Short branch name (`main`), absent when detached or bare. */
  branch?: string;
  bare: boolean;
  detached: boolean;
  /** Registered, but its folder is gone. */
  prunable: boolean;
}

/** Parses `git worktree list --porcelain`. */
export function parseWorktreeList(porcelain: string): WorktreeEntry[] {
  const entries: WorktreeEntry[] = [];
  for (const line of porcelain.split('\n')) {
    const [word, ...rest] = line.split(' ');
    const value = rest.join(' ');
    if (word === 'worktree') entries.push({ path: value, bare: false, detached: false, prunable: false });
    const entry = entries[entries.length - 1];
    if (!entry) continue;
    if (word === 'HEAD') entry.head = value;
    if (word === 'branch') entry.branch = value.replace(/^refs\/heads\//, '');
    if (word === 'bare') entry.bare = true;
    if (word === 'detached') entry.detached = true;
    if (word === 'prunable') entry.prunable = true;
  }
  return entries;
}

/** What `git merge-tree --write-tree -z --name-only` printed: the merged tree, and the paths that conflicted. */
export interface MergeTreeOutput {
  tree: string;
  conflicted: string[];
}

/**
 * Parses `git merge-tree --write-tree -z --name-only` output: the tree id, then, after a conflict, each conflicted
 * path once, an empty field, and messages of the form `<n>\0<path>...\0<type>\0<text>\0`. When a conflict lists no
 * file, the paths its `CONFLICT` messages name stand in.
 */
export function parseMergeTree(out: string): MergeTreeOutput {
  const fields = out.split('\0');
  const tree = fields[0].trim();
  let i = 1;
  const conflicted: string[] = [];
  for (; i < fields.length && fields[i] !== ''; i++) conflicted.push(fields[i]);
  const named = new Set<string>();
  for (i++; i < fields.length; ) {
    const n = Number(fields[i]);
    if (!Number.isInteger(n) || n < 0) break;
    const paths = fields.slice(i + 1, i + 1 + n);
    if ((fields[i + 1 + n] ?? '').startsWith('CONFLICT')) for (const p of paths) named.add(p);
    i += n + 3;
  }
  return { tree, conflicted: [...new Set(conflicted.length ? conflicted : named)] };
}

/**
 * Parses `git ls-tree -r -z --full-tree <commit>`: each file's path (relative, `/`-separated) and its blob id (the
 * digest of its content), in git's order. Entries are `<mode> <type> <object>\t<path>`.
 */
export function parseLsTree(out: string): { path: string; blob: string }[] {
  return nulList(out).map((entry) => {
    const tab = entry.indexOf('\t');
    return { path: entry.slice(tab + 1), blob: entry.slice(0, tab).split(' ')[2] };
  });
}

/**
 * The paths of `git status --porcelain -z --no-renames` (v1 entries `XY <path>`): every path with a staged, unstaged
 * or untracked change.
 */
export function parseStatusPaths(out: string): string[] {
  return nulList(out).map((entry) => entry.slice(3));
}

/**
 * Paths of `incoming` (files a fast-forward would write) that `changed` (paths with local changes) are in the way
 * of: the same path, a change inside a folder where a file comes, or a change in a file where a folder comes.
 */
export function pathsInTheWay(changed: string[], incoming: string[]): string[] {
  const under = (p: string, folder: string): boolean => p.startsWith(`${folder}/`);
  return incoming.filter((p) => changed.some((d) => d === p || under(d, p) || under(p, d)));
}
