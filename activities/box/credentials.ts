/**
 * The credential files of the worker's user that no box sees (issue 25: "print secrets, reach whatever the box leaves
 * open"). The box shows the filesystem read-only, the user's home included: without this, an agent or a test could
 * print `~/.git-credentials` into a tail, a transcript or the next prompt. Known places under `HOME`, and the files
 * the worker's own settings name (its mTLS key, its Temporal config, its GitHub App key).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** Paths under `HOME` that hold credentials by convention (git, curl/netrc, npm, PyPI, ssh, clouds, gh, Temporal). */
export const HOME_CREDENTIALS: readonly string[] = [
  '.git-credentials',
  '.netrc',
  '.npmrc',
  '.pypirc',
  '.ssh',
  '.gnupg',
  '.aws',
  '.azure',
  '.docker',
  '.kube',
  '.terraform.d',
  '.cargo/credentials.toml',
  '.config/gh',
  '.config/hub',
  '.config/gcloud',
  '.config/temporalio',
];

/** Worker variables that name a credential file. */
export const CREDENTIAL_FILE_VARS: readonly string[] = [
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_CONFIG_FILE',
  'RATCHET_GITHUB_APP_PRIVATE_KEY_FILE',
  'GOOGLE_APPLICATION_CREDENTIALS',
];

/**
 * The credential files and folders of `env`'s user that exist here: {@link HOME_CREDENTIALS} under `env.HOME` and
 * the files {@link CREDENTIAL_FILE_VARS} name, canonical. Never throws.
 * @returns `files` (to cover with /dev/null) and `folders` (to cover with an empty one).
 */
export async function credentialPaths(env: NodeJS.ProcessEnv): Promise<{ files: string[]; folders: string[] }> {
  const candidates = [
    ...(env.HOME && path.isAbsolute(env.HOME) ? HOME_CREDENTIALS.map((p) => path.join(env.HOME as string, p)) : []),
    ...CREDENTIAL_FILE_VARS.map((name) => env[name]).filter((p): p is string => !!p && path.isAbsolute(p)),
  ];
  const files = new Set<string>();
  const folders = new Set<string>();
  for (const p of candidates) {
    const real = await fsp.realpath(p).catch(() => undefined);
    if (real === undefined) continue;
    const st = await fsp.stat(real).catch(() => undefined);
    if (st?.isDirectory()) folders.add(real);
    else if (st?.isFile()) files.add(real);
  }
  return { files: [...files], folders: [...folders] };
}
