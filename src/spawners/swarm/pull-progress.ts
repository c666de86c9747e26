/**
 * Following an image pull on one engine, with bytes done over all layers. Used by the hub's
 * preloader and by the Swarm spawner, which shows a pull's progress on the spawn page when the
 * image is not yet on the node the server was placed on. A second pull of an image the engine is
 * already pulling joins the download in flight, so following it costs nothing extra.
 */
import type Docker from 'dockerode';

export interface PullBytes {
  done: number;
  total: number;
  status: string;
}

/** "tcp://{address}:2375" with the node's fields filled in. */
export function fillEngineTemplate(template: string, node: { id: string; hostname: string; address: string }): string {
  return template.replaceAll('{hostname}', node.hostname).replaceAll('{address}', node.address).replaceAll('{id}', node.id);
}

/**
 * Pull `ref` on `engine`, calling `onBytes` as layers download; rejects with the engine's
 * reason (an error line in the stream) or after `timeoutMs`.
 */
export async function pullWithProgress(
  engine: Docker,
  ref: string,
  opts: { authconfig?: Record<string, string>; timeoutMs: number; signal?: AbortSignal; onBytes: (b: PullBytes) => void },
): Promise<void> {
  const stream = (await engine.pull(ref, opts.authconfig ? { authconfig: opts.authconfig } : {})) as NodeJS.ReadableStream & { destroy?: () => void };
  const layers = new Map<string, { current: number; total: number }>();
  await new Promise<void>((resolve, reject) => {
    const abort = () => { stream.destroy?.(); reject(new Error('pull abandoned')); };
    const timer = setTimeout(() => { stream.destroy?.(); reject(new Error(`pull took longer than ${Math.round(opts.timeoutMs / 1000)} s`)); }, opts.timeoutMs);
    opts.signal?.addEventListener('abort', abort, { once: true });
    let failure: string | null = null;
    engine.modem.followProgress(
      stream,
      (err: unknown) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', abort);
        if (err) reject(err);
        else if (failure) reject(new Error(failure));
        else resolve();
      },
      (ev: { status?: string; id?: string; error?: string; progressDetail?: { current?: number; total?: number } }) => {
        if (ev.error) failure = ev.error;
        if (ev.id && ev.status === 'Downloading' && ev.progressDetail?.total) {
          layers.set(ev.id, { current: ev.progressDetail.current ?? 0, total: ev.progressDetail.total });
        } else if (ev.id && (ev.status === 'Download complete' || ev.status === 'Pull complete')) {
          const l = layers.get(ev.id);
          if (l) l.current = l.total;
        }
        let done = 0;
        let total = 0;
        for (const l of layers.values()) { done += l.current; total += l.total; }
        opts.onBytes({ done, total, status: ev.status ?? '' });
      },
    );
  });
}
