#!/usr/bin/env node
// Server command for the hub API tests: behaves by user name, so one hub can exercise several
// spawn outcomes. fail*: exits at once. gate*: waits for $GATE_DIR/<user> to exist, then
// (gatefail*) exits or (else) runs the normal stub. Everyone else: the normal stub.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const user = process.env.JUPYTERHUB_USER ?? '';
const stub = new URL('../../fixtures/stub-singleuser.mjs', import.meta.url);

if (user.startsWith('fail')) process.exit(3);
if (user.startsWith('gate')) {
  const gate = join(process.env.GATE_DIR ?? '/nonexistent', user);
  await new Promise((resolve) => {
    const t = setInterval(() => {
      if (existsSync(gate)) {
        clearInterval(t);
        resolve();
      }
    }, 50);
  });
  if (user.startsWith('gatefail')) process.exit(4);
}
await import(stub.href);
