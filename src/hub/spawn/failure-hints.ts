/**
 * What a user can do about a failed start, in plain words, for the spawn-pending page. The
 * reason itself is the spawner's message (already meant for users); this adds the next step
 * when a known failure has one. Matching is on the catalogue code first and then on the words the
 * backends use (Docker Engine, Slurm, the SSH and local spawners), message and log detail both:
 * the detail is never shown, only used to pick the hint.
 *
 * A hint must be true for every message its pattern matches, so patterns are narrow; an unknown
 * failure gets no hint rather than a guess.
 */
import type { ClassifiedError } from '../error-classify.js';

interface Rule {
  /** Matched against "message\ndetail". */
  test: RegExp;
  hint: string;
}

const ASK_ADMINS = 'If it keeps happening, tell your administrators what this page says.';

/** Backend words, most specific first. */
const RULES: Rule[] = [
  // Swarm spawner (registry-login.ts): the registry refused the configured login. (Refused
  // without a login falls through to the missing-image hint: it may just not exist.)
  {
    test: /The registry \S+ refused the login for /,
    hint: 'The cluster could not log in to the registry that holds this image, so no node can pull it. Your administrators need to fix the registry credentials (images.registries in the hub configuration); trying again will not help.',
  },
  // Docker Engine / Swarm: the image is not on the node and cannot be pulled.
  {
    test: /no such image|manifest unknown|pull access denied|repository does not exist|image .{0,200}not found|No such image|reference does not exist/i,
    hint: 'The image for this server does not exist on the cluster (or could not be pulled). Choose another image if you can; otherwise your administrators need to make it available on the nodes.',
  },
  // Swarm's scheduler ("no suitable node (insufficient resources on 2 nodes)") and Slurm's
  // refusals for sizes no node or limit can hold.
  {
    test: /insufficient resources|no suitable node|Requested node configuration is not available|memory specification can not be satisfied|QOSMax\w*Limit|AssocMax\w*Limit|PartitionConfig|exceeds? .{0,40}limit/i,
    hint: 'No node has enough free CPU, memory or GPUs for a server of this size. Choose a smaller size, or try again later when the cluster is less busy.',
  },
  {
    test: /Slurm job \S+ ended before the server started/,
    hint: 'The batch job ended before the notebook server was up. The last lines of its output are shown above; a wrong partition, a too-short time limit or too little memory are the usual causes.',
  },
  {
    test: /Slurm refused the job|sbatch: error/i,
    hint: 'Slurm did not accept the job. Check the partition, account and limits you chose in the options.',
  },
  {
    test: /Slurm does not answer|slurm_load_jobs error|Unable to contact slurm controller/i,
    hint: 'The Slurm controller is not answering right now. Try again in a few minutes.',
  },
  {
    test: /SSH host .{0,80}failed during the start|No SSH host could be used|No SSH host has room|ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|Timed out while waiting for handshake/i,
    hint: 'The compute host could not be reached or is full. Try again in a few minutes.',
  },
  // Local spawner: the configured program does not exist or cannot be executed.
  {
    test: /The server could not be started[\s\S]*(ENOENT|EACCES)/,
    hint: 'The notebook server program is not installed where the hub looks for it (the cmd setting of the spawner), or cannot be run. Your administrators need to fix the configuration; trying again will not help.',
  },
  {
    test: /exited .{0,60}before it (was listening|listened)|exited right after starting/,
    hint: 'The notebook server stopped right after it started. Its output is in the hub\'s server log (the administrators can read it); a broken environment or a full home directory are common causes.',
  },
];

/** By code, for failures whose code alone says what to do. */
const BY_CODE: Partial<Record<ClassifiedError['code'], string>> = {
  ATRIUM_ERR_SPAWN_TIMEOUT: 'Starting took longer than this hub waits. The cluster may be busy: try again, or ask for fewer resources.',
  ATRIUM_ERR_SPAWN_HTTP_TIMEOUT: `The server started but did not answer the hub. Try again. ${ASK_ADMINS}`,
  ATRIUM_ERR_HOOK_REFUSED: `Your account could not be prepared for a server. ${ASK_ADMINS}`,
  ATRIUM_ERR_HOOK_TIMEOUT: 'Preparing your account took too long; the directory may be busy. Try again in a minute.',
  ATRIUM_ERR_HOOK_FAILED: `Preparing your account failed. Try again in a minute. ${ASK_ADMINS}`,
  ATRIUM_ERR_SPAWN_INTERNAL: 'This is a fault in the hub, not something you did. The administrators can find the details in the hub log.',
  ATRIUM_ERR_SPAWN_THROTTLED: 'Many servers are starting at this moment. Wait a minute, then try again.',
  ATRIUM_ERR_SPAWN_ACTIVE_LIMIT: 'The hub runs as many servers as it is allowed to. Try again in a few minutes, when someone has stopped theirs.',
  ATRIUM_ERR_SERVER_NAMED_LIMIT: 'You have as many named servers as you may. Delete one you no longer need, then create this one.',
  ATRIUM_ERR_DB_BUSY: 'The hub is busy for a moment. Try again in a few seconds.',
  ATRIUM_ERR_HUB_RESTORING: 'The hub has just restarted and is still reconnecting servers. Try again in a few seconds.',
};

/** The next step for a failed start, or null when none is known. */
export function spawnFailureHint(c: Pick<ClassifiedError, 'code' | 'message' | 'detail'>): string | null {
  if (c.code === 'ATRIUM_ERR_SPAWN_CANCELLED') return null;
  const text = `${c.message}\n${c.detail ?? ''}`;
  for (const r of RULES) if (r.test.test(text)) return r.hint;
  return BY_CODE[c.code] ?? null;
}
