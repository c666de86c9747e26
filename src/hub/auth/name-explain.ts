/**
 * Why a user name cannot be used, in words a person at the login form can act on. The login
 * pipeline used to answer "Invalid username or password" to `Bob Smith` (and only the hub log said
 * the name broke the pattern), so the user retried the password. The rule is not a secret: saying
 * it leaks nothing an attacker could not learn by trying.
 *
 * Policy (docs/names.md, docs/decisions/0008-spawn-pending-and-login-names.md): names are
 * lowercased (NFC first), as JupyterHub does; nothing else is rewritten. A space or a letter
 * outside a-z is refused with this explanation rather than replaced, because replacing makes two
 * people one account ("josé" and "jose", "bob smith" and "bob-smith") and lets look-alike letters
 * (Cyrillic "а") pass as someone else's name. Sites that need such names map them with
 * authenticator.usernameMap or widen authenticator.usernamePattern.
 */
import { USER_NAME_MAX } from '../../shared/names.js';

/** The schema's default authenticator.usernamePattern, which this module can describe in words. */
export const DEFAULT_USERNAME_PATTERN = '^[a-z0-9][a-z0-9._@-]{0,62}$';

export const DEFAULT_USERNAME_RULE =
  'User names are 1 to 63 characters: letters a-z, digits and the signs . _ @ -, starting with a letter or digit. Capital letters are turned into lowercase for you; spaces and accented or non-Latin letters are not allowed.';

/** What names are allowed under `pattern`, for the form and for refusals. */
export function usernameRule(pattern: string): string {
  return pattern === DEFAULT_USERNAME_PATTERN
    ? DEFAULT_USERNAME_RULE
    : `User names are turned into lowercase and must match this site's pattern ${pattern}.`;
}

/** The first thing wrong with `name` (already normalised) under the default pattern, in words. */
function defaultPatternProblem(name: string): string {
  if (name.length > 63) return `it is ${name.length} characters long (at most 63)`;
  if (/\s/u.test(name)) return 'it contains a space';
  const odd = [...name].find((c) => !/[a-z0-9._@-]/.test(c));
  if (odd) return /\p{L}/u.test(odd) ? `it contains “${odd}”, which is not one of the letters a-z` : `it contains “${odd}”`;
  return 'it must start with a letter or a digit';
}

/**
 * The message for a refused name. `typed` is what the user entered (shown back, cut to a sane
 * length); `structural` is userNameProblem()'s reason when the structural rule failed.
 */
export function explainBadUsername(pattern: string, typed: string, normalised: string, structural: string | null): string {
  const shown = [...typed].slice(0, 40).join('') + ([...typed].length > 40 ? '…' : '');
  let why: string;
  if (!normalised) why = 'it is empty';
  else if (normalised.length > USER_NAME_MAX) why = `it is longer than ${USER_NAME_MAX} characters`;
  else if (structural) why = structural.replace(/^user name /, 'it ');
  else if (pattern === DEFAULT_USERNAME_PATTERN) why = defaultPatternProblem(normalised);
  else why = 'it does not match the pattern';
  return `“${shown}” cannot be used as a user name: ${why}. ${usernameRule(pattern)}`;
}
