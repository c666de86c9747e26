/**
 * `atrium images …`: the command-line face of the hub's preload manager. It talks to the running
 * hub's REST API with a token (so the CLI and the Images page show the same state), never to
 * Docker itself.
 *
 *   atrium images preload IMAGE... [--continuous] [--wait] [--timeout SECONDS]
 *   atrium images status [IMAGE]
 *   atrium images prune IMAGE          (remove other versions no running session uses)
 *
 * The hub URL comes from --hub-url or $ATRIUM_HUB_URL (default http://127.0.0.1:8081/hub/), the
 * token from $ATRIUM_API_TOKEN or $JUPYTERHUB_API_TOKEN (scope `images`; `atrium token USER`).
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeProgress, PreloadView } from './preload-manager.js';

export const IMAGES_USAGE = `Usage:
  atrium images preload IMAGE... [--continuous] [--wait] [--timeout SECONDS]
  atrium images status [IMAGE]
  atrium images prune IMAGE
Options: --hub-url URL (or $ATRIUM_HUB_URL, default http://127.0.0.1:8081/hub/);
the token comes from $ATRIUM_API_TOKEN or $JUPYTERHUB_API_TOKEN (needs scope "images").`;

/** A wrong command line (exit 2), told apart by its flag, not its class. */
class UsageError extends Error {
  readonly usage = true;
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

export function nodeLine(n: NodeProgress): string {
  const bytes = n.status === 'pulling' ? ` ${mb(n.bytesDone)}${n.bytesTotal ? ` of ${mb(n.bytesTotal)}` : ''}` : '';
  const why = n.status === 'failed' || n.status === 'skipped' ? ` (${n.message})` : '';
  return `  ${n.hostname.padEnd(24)} ${n.status}${bytes}${why}`;
}

function summary(p: PreloadView): string {
  // `resumed` is absent from a hub older than migration 7.
  const resumed = p.resumed ? ` (resumed after a hub restart at ${p.resumed})` : '';
  return `${p.image}: ready on ${p.ready}/${p.total} nodes${p.continuous ? ' (continuous)' : ''}${resumed}`;
}

export async function runImagesCli(args: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'hub-url': { type: 'string' },
      continuous: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '1800' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [sub, ...images] = positionals;
  if (values.help || !sub) {
    out(IMAGES_USAGE);
    return values.help ? 0 : 2;
  }
  const base = (values['hub-url'] ?? process.env.ATRIUM_HUB_URL ?? 'http://127.0.0.1:8081/hub/').replace(/\/?$/, '/');
  const token = process.env.ATRIUM_API_TOKEN ?? process.env.JUPYTERHUB_API_TOKEN;
  if (!token) throw new UsageError('set $ATRIUM_API_TOKEN (a token with scope "images", e.g. from `atrium token USER`)');
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}api/${path}`, {
      method,
      headers: { Authorization: `token ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!res.ok) throw new Error(`${res.status}: ${String(json.message ?? text)}`);
    return json;
  };

  if (sub === 'status') {
    const list = (await call('GET', 'images/preloads')).preloads as PreloadView[];
    for (const p of list.filter((x) => images.length === 0 || images.includes(x.image))) {
      out(summary(p));
      for (const n of p.nodes) out(nodeLine(n));
    }
    return 0;
  }
  if (sub === 'prune') {
    if (images.length !== 1) throw new UsageError('atrium images prune IMAGE (the version to keep)');
    const nodes = (await call('POST', 'images/prune', { image: images[0] })).nodes as { hostname: string; removed: string[]; kept: { image: string; why: string }[]; error?: string }[];
    for (const n of nodes) {
      out(`${n.hostname}: removed ${n.removed.join(', ') || 'nothing'}${n.error ? ` (error: ${n.error})` : ''}`);
      for (const k of n.kept) out(`  kept ${k.image}: ${k.why}`);
    }
    return 0;
  }
  if (sub !== 'preload') throw new UsageError(`unknown images command "${sub}"`);
  if (images.length === 0) throw new UsageError('atrium images preload IMAGE...');
  let views = (await call('POST', 'images/preloads', { images, continuous: values.continuous })).preloads as PreloadView[];
  const wanted = views.map((v) => v.image);
  if (!values.wait) {
    for (const p of views) out(`${summary(p)} — pulling; follow with: atrium images status ${p.image}`);
    return 0;
  }
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError('--timeout: a number of seconds');
  const deadline = Date.now() + timeout * 1000;
  const last = new Map<string, string>();
  for (;;) {
    for (const p of views) {
      for (const n of p.nodes) {
        const line = nodeLine(n);
        const key = `${p.image} ${n.node}`;
        if (last.get(key) !== line) out(`${p.image} ${line.trim()}`);
        last.set(key, line);
      }
    }
    // Done when every schedulable node has it, or nothing is still in flight (failures stay failed).
    if (views.every((p) => p.nodes.length > 0 && p.nodes.every((n) => n.status !== 'pulling' && n.status !== 'waiting'))) break;
    if (Date.now() > deadline) {
      out(`timed out after ${timeout} s`);
      return 1;
    }
    await sleep(1000);
    const all = (await call('GET', 'images/preloads')).preloads as PreloadView[];
    views = all.filter((p) => wanted.includes(p.image));
  }
  for (const p of views) out(summary(p));
  return views.every((p) => p.complete) ? 0 : 1;
}

export function isUsageError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { usage?: unknown }).usage === true;
}
