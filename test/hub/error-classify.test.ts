/** The hub's one classifier: thrown value → status, code, user message, log level, detail. */
import { describe, expect, it } from 'vitest';
import { classifyError, logClassified, spawnFailureText, type LogSink } from '../../src/hub/error-classify.js';
import { atriumError, catalogue } from '../../src/hub/errors.js';
import { SpawnError } from '../../src/spawners/spawner.js';
import { AuthUnavailableError } from '../../src/authenticators/authenticator.js';

function recorder() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  const log: LogSink = { error: at('error'), warn: at('warn'), info: at('info') };
  return { log, lines };
}

describe('classifyError', () => {
  it('a catalogued error keeps its status, code, message, headers and detail', () => {
    const c = classifyError(atriumError('ATRIUM_ERR_SPAWN_THROTTLED', undefined, { headers: { 'Retry-After': '7' }, detail: 'twelve pending' }));
    expect(c).toMatchObject({ status: 429, code: 'ATRIUM_ERR_SPAWN_THROTTLED', message: catalogue.ATRIUM_ERR_SPAWN_THROTTLED.message, headers: { 'Retry-After': '7' }, detail: 'twelve pending', level: 'info', expected: true });
  });

  it('a kind\'s error is sorted by its code; 5xx expected failures log at warn unless the catalogue says otherwise', () => {
    expect(classifyError(new SpawnError('no node fits', 'constraints'))).toMatchObject({ status: 500, code: 'ATRIUM_ERR_SPAWN_FAILED', message: 'no node fits', level: 'warn', expected: true });
    expect(classifyError(new AuthUnavailableError('directory unavailable', 'ECONNREFUSED'))).toMatchObject({ status: 503, level: 'error', message: catalogue.ATRIUM_ERR_AUTH_UNAVAILABLE.message });
  });

  it('fastify\'s client errors become catalogued 4xx, never 500', () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    expect(classifyError(tooLarge)).toMatchObject({ status: 413, code: 'ATRIUM_ERR_HTTP_TOO_LARGE', message: 'Request body is too large' });
    const media = Object.assign(new Error('Unsupported Media Type: x/y'), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' });
    expect(classifyError(media)).toMatchObject({ status: 415, code: 'ATRIUM_ERR_HTTP_UNSUPPORTED_MEDIA', message: 'Unsupported content type' });
    const other = Object.assign(new Error('Body cannot be empty when content-type is set to \'application/json\''), { statusCode: 400, code: 'FST_ERR_CTP_EMPTY_JSON_BODY' });
    expect(classifyError(other)).toMatchObject({ status: 400, code: 'ATRIUM_ERR_HTTP_BAD_REQUEST', message: other.message });
  });

  it('a bug gets the generic message and level error; its stack is log-only detail', () => {
    const bug = new TypeError('cannot read properties of undefined (secret-path)');
    const c = classifyError(bug);
    expect(c).toMatchObject({ status: 500, code: 'ATRIUM_ERR_HUB_INTERNAL', message: 'Internal Server Error', level: 'error', expected: false });
    expect(c.message).not.toContain('secret-path');
    expect(c.detail).toContain('secret-path');
    expect(classifyError(bug, { unexpected: 'ATRIUM_ERR_SPAWN_INTERNAL' })).toMatchObject({ status: 500, code: 'ATRIUM_ERR_SPAWN_INTERNAL', message: catalogue.ATRIUM_ERR_SPAWN_INTERNAL.message });
    // A 5xx statusCode on a foreign error is no excuse to show its message.
    expect(classifyError(Object.assign(new Error('db path /var/x'), { statusCode: 502 }))).toMatchObject({ status: 500, expected: false });
  });

  it('a storage mapper turns SQLite failures into catalogued 503s first', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    const storage = { httpError: (e: unknown) => ((e as { code?: string }).code === 'SQLITE_BUSY' ? atriumError('ATRIUM_ERR_DB_BUSY', undefined, { headers: { 'Retry-After': '5' } }) : null) };
    expect(classifyError(busy, { storage })).toMatchObject({ status: 503, code: 'ATRIUM_ERR_DB_BUSY', headers: { 'Retry-After': '5' } });
    expect(classifyError(busy)).toMatchObject({ status: 500, expected: false });
  });
});

describe('logClassified', () => {
  it('logs expected failures at their level with code and detail, bugs with the error itself', () => {
    const { log, lines } = recorder();
    logClassified(log, classifyError(new SpawnError('no node fits', 'constraints')), 'spawn failed', { stage: 'start' });
    const bug = new Error('boom');
    logClassified(log, classifyError(bug), 'request failed');
    logClassified(log, classifyError(atriumError('ATRIUM_ERR_USER_NOT_FOUND')), 'request failed', {}, true);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'spawn failed', obj: { stage: 'start', code: 'ATRIUM_ERR_SPAWN_FAILED', reason: 'no node fits', detail: 'constraints' } });
    expect(lines[1]).toMatchObject({ level: 'error', obj: { code: 'ATRIUM_ERR_HUB_INTERNAL', err: bug } });
  });

  it('spawnFailureText is the line the progress stream and the pending page share', () => {
    expect(spawnFailureText(classifyError(new SpawnError('no node fits')))).toBe('Spawn failed: no node fits');
  });
});
