/**
 * Image references as admins and teaching staff type them: checked before anything reaches an
 * engine, split into the parts preloading and pruning need (registry for credentials, repository
 * for "other versions of the same image").
 */
import { atriumError } from '../errors.js';

export interface ImageRef {
  /** As given, with ":latest" added when neither tag nor digest was. */
  ref: string;
  /** Registry host[:port], or "docker.io" when the first part is not a host. */
  registry: string;
  /** Everything before the tag / digest, e.g. "127.0.0.1:5000/course/python". */
  repository: string;
  tag: string | null;
  digest: string | null;
}

// Docker's grammar, simplified: lowercase path components separated by "/", an optional
// host[:port] first, an optional tag, an optional sha256 digest.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?)';
const REF = new RegExp(`^(?:(${HOST})/)?(${COMPONENT}(?:/${COMPONENT})*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$`);

export function parseImageRef(input: unknown): ImageRef {
  if (typeof input !== 'string' || input.length === 0 || input.length > 300) {
    throw atriumError('ATRIUM_ERR_IMAGES_BAD_REF', 'An image reference must be a non-empty string of at most 300 characters');
  }
  const m = REF.exec(input.trim());
  if (!m) throw atriumError('ATRIUM_ERR_IMAGES_BAD_REF', `"${input.slice(0, 100)}" is not an image reference like registry.example:5000/course/python:2024`);
  let host: string | undefined = m[1];
  let path = m[2]!;
  let tag: string | undefined = m[3];
  const digest: string | undefined = m[4];
  // "python/x" has no host: the first part is a host only if it looks like one.
  if (host && !/[.:]/.test(host) && host !== 'localhost') {
    if (!new RegExp(`^${COMPONENT}$`).test(host)) throw atriumError('ATRIUM_ERR_IMAGES_BAD_REF', `"${input.slice(0, 100)}": repository names are lowercase`);
    path = `${host}/${path}`;
    host = undefined;
  }
  if (!tag && !digest) tag = 'latest';
  const repository = host ? `${host}/${path}` : path;
  const ref = `${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { ref, registry: host ?? 'docker.io', repository, tag: tag ?? null, digest: digest ?? null };
}

/** The repository of a RepoTags entry ("host:5000/a/b:tag" → "host:5000/a/b"). */
export function repositoryOfTag(repoTag: string): string {
  const slash = repoTag.lastIndexOf('/');
  const colon = repoTag.lastIndexOf(':');
  return colon > slash ? repoTag.slice(0, colon) : repoTag;
}
