/**
 * Rules that span keys or need more than JSON Schema (regexes that must compile, CIDRs).
 * They run on the defaulted data even when the schema found problems, so a file with several
 * mistakes is reported in one go; each check therefore tolerates wrong types.
 */
import { isValidCidr } from '../../shared/cidr.js';
import { regexError } from '../../shared/regex.js';
import { kindProblems } from './kind-checks.js';
import { serviceProblems } from '../services/config-check.js';
import { jobsProblems } from '../jobs/config.js';
import { loginHostProblems } from '../shell/login-host-config.js';
import type { RawProblem } from './yaml-source.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

function checkRegex(pattern: unknown, segments: string[]): RawProblem[] {
  const message = typeof pattern === 'string' ? regexError(pattern) : null;
  return message ? [{ segments, message }] : [];
}

export function crossChecks(data: unknown): RawProblem[] {
  const root = obj(data);
  const hub = obj(root.hub);
  const proxy = obj(root.proxy);
  const auth = obj(root.authenticator);
  const out: RawProblem[] = [];

  if (proxy.external === true && (typeof proxy.authToken !== 'string' || proxy.authToken === '')) {
    out.push({
      segments: ['proxy', 'external'],
      message: 'an external proxy needs proxy.authToken (the CONFIGPROXY_AUTH_TOKEN it was started with; use ${ENV_VAR})',
    });
  }
  for (const [key, value] of [['apiUrl', proxy.apiUrl]] as const) {
    if (typeof value === 'string' && !/^https?:\/\//.test(value)) {
      out.push({ segments: ['proxy', key], message: 'must be an http:// or https:// URL' });
    }
  }
  if (typeof hub.connectUrl === 'string' && !(URL.canParse(hub.connectUrl) && /^https?:\/\//.test(hub.connectUrl))) {
    out.push({ segments: ['hub', 'connectUrl'], message: 'must be an http:// or https:// URL' });
  }
  if (typeof hub.publicUrl === 'string' && URL.canParse(hub.publicUrl) && !/^https?:$/.test(new URL(hub.publicUrl).protocol)) {
    out.push({ segments: ['hub', 'publicUrl'], message: 'must be an http:// or https:// URL' });
  }
  if (proxy.external !== true && hub.ip === proxy.ip && typeof hub.port === 'number' && hub.port !== 0 && hub.port === proxy.port) {
    out.push({ segments: ['proxy', 'port'], message: `the proxy and the hub both listen on ${String(hub.ip)}:${hub.port}` });
  }
  if (Array.isArray(hub.trustedProxies)) {
    hub.trustedProxies.forEach((p: unknown, i) => {
      if (typeof p === 'string' && !isValidCidr(p)) {
        out.push({ segments: ['hub', 'trustedProxies', String(i)], message: `"${p}" is not an IP address or CIDR` });
      }
    });
  }

  out.push(...checkRegex(auth.usernamePattern, ['authenticator', 'usernamePattern']));
  out.push(...serviceProblems(root.services));
  out.push(...kindProblems(root).map((p) => ({ ...p, segments: p.segments.map(String) })));
  out.push(...jobsProblems(root).map((p) => ({ ...p, segments: p.segments.map(String) })));
  out.push(...loginHostProblems(root).map((p) => ({ ...p, segments: p.segments.map(String) })));
  return out.map((p) => ({ ...p, segments: p.segments.map((s) => (/^\d+$/.test(String(s)) ? Number(s) : s)) }));
}
