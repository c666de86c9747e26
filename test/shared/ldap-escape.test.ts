import { describe, expect, it } from 'vitest';
import { FilterParser, EqualityFilter } from 'ldapts';
import { escapeDnValue, escapeFilterValue, fillTemplate, templatePlaceholders, TemplateError, noEscape } from '../../src/shared/ldap/escape.js';
import { isTransportError } from '../../src/shared/ldap/connection.js';
import { InvalidCredentialsError } from 'ldapts';

describe('escapeFilterValue (RFC 4515)', () => {
  it.each([
    ['*', '\\2a'],
    ['(', '\\28'],
    [')', '\\29'],
    ['\\', '\\5c'],
    ['\u0000', '\\00'],
    ['admin)(|(uid=*', 'admin\\29\\28|\\28uid=\\2a'],
    ['plain.name@x', 'plain.name@x'],
    ['Zoë', 'Zoë'],
  ])('%j → %j', (input, out) => {
    expect(escapeFilterValue(input)).toBe(out);
  });

  it('keeps a hostile value as one equality assertion', () => {
    const f = FilterParser.parseString(`(uid=${escapeFilterValue('admin)(|(uid=*')})`);
    expect(f).toBeInstanceOf(EqualityFilter);
    expect((f as EqualityFilter).value).toBe('admin)(|(uid=*');
  });
});

describe('escapeDnValue (RFC 4514)', () => {
  it.each([
    [',cn=admin', '\\,cn\\=admin'],
    ['a+b', 'a\\+b'],
    ['"q";<x>', '\\"q\\"\\;\\<x\\>'],
    ['back\\slash', 'back\\\\slash'],
    [' lead', '\\ lead'],
    ['trail ', 'trail\\ '],
    ['#hash', '\\#hash'],
    ['mid#dle mid', 'mid#dle mid'],
    ['nul\u0000', 'nul\\00'],
    ['alice', 'alice'],
  ])('%j → %j', (input, out) => {
    expect(escapeDnValue(input)).toBe(out);
  });
});

describe('fillTemplate', () => {
  it('fills plain and dotted placeholders, escaping only the values', () => {
    const vars = { username: 'a,b', authState: { x509dn: '/C=DE/CN=Zoë' } };
    expect(fillTemplate('uid={username},ou=p', vars, escapeDnValue)).toBe('uid=a\\,b,ou=p');
    expect(fillTemplate('cn={authState.x509dn}', vars, noEscape)).toBe('cn=/C=DE/CN=Zoë');
  });
  it('takes the first value of a list and keeps {{ }} literal', () => {
    expect(fillTemplate('{{{n}}}', { n: ['1', '2'] }, noEscape)).toBe('{1}');
  });
  it('throws TemplateError naming a missing value', () => {
    expect(() => fillTemplate('{authState.missing}', { authState: {} }, noEscape)).toThrow(TemplateError);
  });
  it('lists placeholders', () => {
    expect(templatePlaceholders('({a}={b.c}){{x}}')).toEqual(['a', 'b.c']);
  });
});

describe('isTransportError', () => {
  it('tells transport failures from answers and bugs', () => {
    expect(isTransportError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransportError(new Error('SearchRequest: Operation timed out'))).toBe(true);
    expect(isTransportError(new Error('Connection closed before message response was received'))).toBe(true);
    expect(isTransportError(new InvalidCredentialsError('bad'))).toBe(false);
    expect(isTransportError(new TypeError('x is undefined'))).toBe(false);
    expect(isTransportError(new Error('no value for {x}'))).toBe(false);
  });
});
