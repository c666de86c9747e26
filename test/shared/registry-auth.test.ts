/** The one reader of registry logins (preloader and Swarm spawner): which login an image gets. */
import { describe, expect, it } from 'vitest';
import { registryAuthFor, registryHostOf } from '../../src/shared/registry-auth.js';

describe('registry logins', () => {
  it('finds the registry of an image reference as Docker does', () => {
    expect(registryHostOf('reg.example.org:5000/course/python:1')).toBe('reg.example.org:5000');
    expect(registryHostOf('127.0.0.1:5000/x')).toBe('127.0.0.1:5000');
    expect(registryHostOf('localhost/x:1')).toBe('localhost');
    expect(registryHostOf('jupyter/base-notebook:latest')).toBe('docker.io');
    expect(registryHostOf('python:3')).toBe('docker.io');
  });

  it('gives the login of that registry only, as an engine auth object', () => {
    const logins = [{ host: 'reg.example.org:5000', username: 'atrium', password: 's3cret' }];
    expect(registryAuthFor(logins, 'reg.example.org:5000/c/p:1')).toEqual({ username: 'atrium', password: 's3cret', serveraddress: 'reg.example.org:5000' });
    // Same host without the port is another registry.
    expect(registryAuthFor(logins, 'reg.example.org/c/p:1')).toBeUndefined();
    expect(registryAuthFor(logins, 'c/p:1')).toBeUndefined();
    expect(registryAuthFor(undefined, 'reg.example.org:5000/c/p:1')).toBeUndefined();
  });
});
