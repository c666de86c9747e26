/**
 * `{username}` and `{servername}` in admin-written templates (environment values, mount paths,
 * home directories). The one filler, so every kind reads the same placeholders the same way;
 * other `{words}` are left alone for the kind's own templates (Slurm's, LDAP's) to fill.
 */
export function fillNames(template: string, names: { username: string; servername?: string }): string {
  return template.replaceAll('{username}', names.username).replaceAll('{servername}', names.servername ?? '');
}
