/**
 * docs/errors.md, generated from the catalogue so the table cannot drift from what the code
 * throws. `node --import tsx scripts/gen-errors-docs.ts` writes it; test/shared/errors.test.ts
 * fails when the file is stale.
 */
import { catalogue, type ErrorCode } from './errors.js';

const HEADER = `# Error codes

<!-- Generated from src/shared/errors.ts by \`node --import tsx scripts/gen-errors-docs.ts\`. Do not edit by hand. -->

Every expected failure in Atrium carries a stable code \`ATRIUM_ERR_<AREA>_<WHAT>\`, an HTTP status
and a message for the user. API answers are \`{"status": ..., "message": ...}\`; pages show the
message. The hub log line of a failure names its code and, where there is one, a log-only
\`detail\` (which directory URL failed, what the proxy answered). Anything without a code is a
bug: the user gets a generic message (\`ATRIUM_ERR_HUB_INTERNAL\`, or \`ATRIUM_ERR_SPAWN_INTERNAL\` for a
spawn) and the log gets the stack. The design is in docs/decisions/0006-one-error-model.md.

The message column is the default; where a row says so, the message names the specific thing
(a server, an option, the reason a hook or spawner gave). Codes are stable: match on them, not
on messages.
`;

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderErrorDocs(): string {
  const areas = new Map<string, ErrorCode[]>();
  for (const code of Object.keys(catalogue) as ErrorCode[]) {
    const area = code.split('_')[2]!;
    areas.set(area, [...(areas.get(area) ?? []), code]);
  }
  const out = [HEADER];
  for (const [area, codes] of areas) {
    out.push(`## ${area}`, '', '| Code | Status | Message | When |', '| --- | --- | --- | --- |');
    for (const code of codes) {
      const e = catalogue[code];
      out.push(`| \`${code}\` | ${e.status} | ${cell(e.message)} | ${cell(e.when)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
