/** The culler block and the services list in atrium.yaml: defaults, and every problem named with its key and line. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/hub/config/loader.js';

function problems(text: string, env: NodeJS.ProcessEnv = {}): { path: string; message: string; line?: number }[] {
  try {
    parseConfig(text, 'atrium.yaml', env);
  } catch (e) {
    return ((e as { problems?: { path: string; message: string; line?: number }[] }).problems ?? []).map((p) => ({ path: p.path, message: p.message, line: p.line }));
  }
  return [];
}

describe('culler and services config', () => {
  it('the culler is off by default and services empty', () => {
    const c = parseConfig('', 'atrium.yaml', {});
    expect(c.culler).toMatchObject({ enabled: false, timeoutSeconds: 3600, maxAgeSeconds: 0, cullAdminUsers: false, removeNamedServers: false, cullUsers: false, inspectKernels: true });
    expect(c.services).toEqual([]);
  });

  it('takes a service token from the environment', () => {
    const c = parseConfig('services:\n  - name: grader\n    url: http://127.0.0.1:9000\n    apiToken: ${GRADER_TOKEN}\n', 'atrium.yaml', { GRADER_TOKEN: 'a-long-enough-secret-value' });
    expect(c.services[0]).toMatchObject({ name: 'grader', apiToken: 'a-long-enough-secret-value', oauthNoConfirm: false, scopes: [] });
  });

  it('names every bad service entry', () => {
    const text = [
      'services:',
      '  - name: Bad_Name',
      '    url: ftp://x',
      '    apiToken: 0123456789abcdef0123',
      '  - name: twin',
      '    scopes: [not-a-scope, "read:users!user"]',
      '    roles: [superuser]',
      '  - name: twin',
      '    url: http://127.0.0.1:9',
      '  - name: other',
      '    oauthClientId: jupyterhub',
      '    command: [x]',
    ].join('\n');
    const got = problems(text);
    const at = (path: string) => got.filter((p) => p.path === path).map((p) => p.message).join(' | ');
    expect(at('services[0].name')).toContain('not a valid service name');
    expect(at('services[0].url')).toContain('http:// or https://');
    expect(at('services[1].scopes[0]')).toContain('not a known scope');
    expect(at('services[1].scopes[1]')).toContain('a service is not a user');
    expect(at('services[1].roles[0]')).toContain('unknown role');
    expect(at('services[2].name')).toContain('already defined at services[1]');
    expect(at('services[2].apiToken')).toContain('needs apiToken');
    expect(at('services[3].oauthClientId')).toContain('reserved');
    expect(got.find((p) => p.path === 'services[2].name')?.line).toBe(8);
  });

  it('refuses unknown culler keys with a suggestion', () => {
    const got = problems('culler:\n  enabled: true\n  timeout: 60\n');
    expect(got.map((p) => `${p.path}: ${p.message}`).join('\n')).toMatch(/culler.*timeout.*timeoutSeconds/s);
  });
});
