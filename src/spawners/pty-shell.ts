/**
 * A {@link ShellSession} over a local pseudo-terminal (node-pty), shared by the kinds whose shell
 * is a process on the hub's host: the local spawner (a login shell as the server's uid) and Slurm
 * (`srun --pty` as the job's owner). node-pty is loaded on first use, so a hub that never opens a
 * shell never loads the native module.
 */
import { createRequire } from 'node:module';
import type { IPty } from 'node-pty';
import { SpawnError, type ShellSession } from './spawner.js';

const require = createRequire(import.meta.url);

export interface PtyCommand {
  file: string;
  args: string[];
  cwd: string;
  /** The whole environment of the shell (nothing is inherited from the hub). */
  env: Record<string, string>;
  cols: number;
  rows: number;
  description: string;
}

export function ptyShell(cmd: PtyCommand): ShellSession {
  const pty = require('node-pty') as typeof import('node-pty');
  let p: IPty;
  try {
    p = pty.spawn(cmd.file, cmd.args, {
      name: 'xterm-256color',
      cols: cmd.cols,
      rows: cmd.rows,
      cwd: cmd.cwd,
      env: cmd.env,
      // Raw bytes both ways: the browser decodes UTF-8, so a character split between two reads
      // reaches it intact.
      encoding: null,
    });
  } catch (err) {
    throw new SpawnError('The shell could not be started', `${cmd.file}: ${(err as Error).message}`);
  }
  let exited = false;
  let closed = false;
  const exitFns: ((e: { code: number | null; signal: string | null }) => void)[] = [];
  p.onExit(({ exitCode, signal }) => {
    exited = true;
    const e = { code: signal ? null : exitCode, signal: signal ? `signal ${signal}` : null };
    for (const fn of exitFns) fn(e);
  });
  return {
    description: cmd.description,
    write: (data) => {
      if (!exited) p.write(data);
    },
    resize: (cols, rows) => {
      if (!exited) p.resize(cols, rows);
    },
    onData: (fn) => {
      p.onData((d) => fn(d as unknown as Buffer));
    },
    onExit: (fn) => {
      exitFns.push(fn);
    },
    close: () => {
      if (exited || closed) return;
      closed = true;
      // SIGHUP is what a terminal closing sends: the shell passes it on to its jobs.
      p.kill('SIGHUP');
      const t = setTimeout(() => {
        if (!exited) p.kill('SIGKILL');
      }, 5000);
      t.unref();
    },
  };
}
