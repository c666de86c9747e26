/** Checks of the `services` list that JSON Schema cannot express (run by config check and at start). */
import { isValidServerName, SERVER_NAME_RULE } from '../../shared/names.js';
import { isValidScope } from '../auth/scopes.js';

type Problem = { segments: string[]; message: string };
type Obj = Record<string, unknown>;

export function serviceProblems(services: unknown): Problem[] {
  if (!Array.isArray(services)) return [];
  const out: Problem[] = [];
  const seen = new Map<string, number>();
  const clients = new Map<string, number>();
  services.forEach((raw: unknown, i) => {
    const s = (raw && typeof raw === 'object' ? raw : {}) as Obj;
    const at = (...k: string[]) => ['services', String(i), ...k];
    if (typeof s.name === 'string') {
      if (!isValidServerName(s.name)) out.push({ segments: at('name'), message: `"${s.name}" is not a valid service name. ${SERVER_NAME_RULE}` });
      const first = seen.get(s.name);
      if (first !== undefined) out.push({ segments: at('name'), message: `service "${s.name}" is already defined at services[${first}]` });
      else seen.set(s.name, i);
    }
    if (typeof s.url === 'string' && !(URL.canParse(s.url) && /^https?:$/.test(new URL(s.url).protocol))) {
      out.push({ segments: at('url'), message: 'must be an http:// or https:// URL' });
    }
    if (Array.isArray(s.scopes)) {
      s.scopes.forEach((sc: unknown, j) => {
        if (typeof sc === 'string' && !isValidScope(sc)) out.push({ segments: at('scopes', String(j)), message: `"${sc}" is not a known scope` });
        if (typeof sc === 'string' && /!(user|server)$/.test(sc)) out.push({ segments: at('scopes', String(j)), message: `"${sc}": a service is not a user; name the user or group (${sc}=NAME)` });
      });
    }
    if (Array.isArray(s.roles)) {
      s.roles.forEach((r: unknown, j) => {
        if (r !== 'admin') out.push({ segments: at('roles', String(j)), message: `unknown role ${JSON.stringify(r)}; a service may hold "admin" (list other rights in scopes)` });
      });
    }
    const hasCommand = Array.isArray(s.command) && s.command.length > 0;
    if (s.url !== undefined && s.apiToken === undefined && !hasCommand) {
      out.push({ segments: at('apiToken'), message: 'an external service with a url needs apiToken (its OAuth client secret); use ${ENV_VAR}' });
    }
    if (typeof s.oauthRedirectUri === 'string' && !s.oauthRedirectUri.startsWith('/') && !/^https?:\/\//.test(s.oauthRedirectUri)) {
      out.push({ segments: at('oauthRedirectUri'), message: 'must be a path starting with "/" or an http(s) URL' });
    }
    const client = typeof s.oauthClientId === 'string' ? s.oauthClientId : typeof s.name === 'string' ? `service-${s.name}` : null;
    if (client !== null) {
      if (client === 'jupyterhub' || client.startsWith('jupyterhub-user-')) out.push({ segments: at('oauthClientId'), message: `"${client}" is reserved for the hub and user servers` });
      const first = clients.get(client);
      if (first !== undefined) out.push({ segments: at('oauthClientId'), message: `OAuth client id "${client}" is also used by services[${first}]` });
      else clients.set(client, i);
    }
  });
  return out;
}
