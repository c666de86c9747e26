/**
 * The name rules for things that become URL path segments: server names (one fixed rule, the
 * one JupyterHub 6 adopted) and the structural part of the user-name rule (the configurable
 * pattern is applied on top by the login pipeline). Both exist because a name that a browser or
 * proxy can reinterpret (`..`, `.`, `%2e`, a slash) lets one user's URL reach another's server.
 * See docs/names.md and docs/decisions/0005-names-csrf-redirects.md.
 */

export const SERVER_NAME_MAX = 30;

/** Lowercase letters and digits, single hyphens between them, starting with a letter. */
const SERVER_NAME = /^[a-z](?:-?[a-z0-9])*$/;

export const SERVER_NAME_RULE =
  'A server name is 1 to 30 characters: lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (e.g. "gpu-2").';

/** HTML `pattern` attribute for the named-server form (same rule as SERVER_NAME). */
export const SERVER_NAME_HTML_PATTERN = '[a-z](-?[a-z0-9])*';

export function isValidServerName(name: string): boolean {
  return name.length >= 1 && name.length <= SERVER_NAME_MAX && SERVER_NAME.test(name);
}

// Control characters, separators, '%' (a name holding an escape is decoded differently by each
// hop) and anything that could break a path or a header.
const USER_FORBIDDEN = /[\u0000-\u001f\u007f-\u009f/\\%?#\u2028\u2029]/;

export const USER_NAME_MAX = 255;

/** Returns why `name` cannot be a user name structurally, or null. */
export function userNameProblem(name: string): string | null {
  if (!name) return 'user name is empty';
  if (name.length > USER_NAME_MAX) return `user name is longer than ${USER_NAME_MAX} characters`;
  if (name !== name.trim()) return 'user name has leading or trailing whitespace';
  if (USER_FORBIDDEN.test(name)) return 'user name contains a slash, backslash, "%", "?", "#" or a control character';
  if (/^\.+$/.test(name)) return 'user name may not consist only of dots';
  return null;
}

/**
 * A Unix account name that may be put on a remote command line (sudo -u NAME, runuser -u NAME):
 * the portable POSIX-ish form useradd accepts by default. Hub user names allow far more (spaces,
 * quotes, non-ASCII), so anything that becomes an account on a host is checked against this.
 */
const UNIX_ACCOUNT = /^[a-z_][a-z0-9_.-]{0,31}$/i;

export const UNIX_ACCOUNT_RULE = 'A Unix account name is 1 to 32 characters: letters, digits, "_", "." and "-", starting with a letter or "_".';

export function isValidUnixAccount(name: string): boolean {
  return UNIX_ACCOUNT.test(name);
}
