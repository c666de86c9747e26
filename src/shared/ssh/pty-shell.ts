/**
 * A login shell in a pseudo-terminal over a pooled SSH connection, as a ShellSession for the web
 * shell. Used by the SSH spawner (a shell into a running session's host) and by the hub's
 * login-host shell. Each open shell holds one session of the shared connection, so sshd's
 * MaxSessions bounds shells plus server commands per host.
 */
import type { ClientChannel } from 'ssh2';
import type { ShellOptions, ShellSession } from '../../spawners/spawner.js';
import type { HostConnection } from './connection-pool.js';

/**
 * As the user: start in the home folder, prefer bash. A closed channel hangs up the terminal, but
 * the kernel tells only the session leader — the prefix command (sudo, runuser), and runuser
 * blocks SIGHUP. So a watchdog beside the shell checks every 2 s that the terminal is still there
 * and, once it is gone, sends the shell the SIGHUP it missed; bash passes it on to its jobs.
 * Callers run it as `/bin/sh -c LOGIN_SCRIPT` behind their prefix, quoted by their own rule.
 */
export const LOGIN_SCRIPT = [
  'cd ~ 2>/dev/null',
  'p=$$',
  "( trap '' HUP; while sleep 2; do [ -t 0 ] || break; kill -0 \"$p\" 2>/dev/null || exit 0; done; kill -HUP \"$p\" 2>/dev/null ) &",
  'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi',
].join('\n');

/** Run `command` (already quoted) with an xterm pty on the host's connection; errors are ssh2's. */
export async function execWithPty(conn: HostConnection, command: string, opts: ShellOptions): Promise<ClientChannel> {
  const client = await conn.get();
  if (opts.signal.aborted) throw new Error('cancelled');
  return new Promise<ClientChannel>((resolve, reject) =>
    client.exec(command, { pty: { term: 'xterm-256color', cols: opts.cols, rows: opts.rows, width: 0, height: 0 } }, (err, channel) => (err ? reject(err) : resolve(channel))),
  );
}

/** The channel as the web shell's session: output, resize, exit (code or signal) and close. */
export function channelSession(ch: ClientChannel, description: string): ShellSession {
  let ended = false;
  let code: number | null = null;
  let signal: string | null = null;
  const exitFns: ((e: { code: number | null; signal: string | null }) => void)[] = [];
  ch.on('exit', (c: number | null, sig?: string) => {
    code = c;
    signal = sig ? `signal ${sig}` : null;
  });
  ch.on('close', () => {
    if (ended) return;
    ended = true;
    for (const fn of exitFns) fn({ code, signal });
  });
  return {
    description,
    write: (data) => {
      if (!ended) ch.write(data);
    },
    resize: (cols, rows) => {
      if (!ended) ch.setWindow(rows, cols, 0, 0);
    },
    onData: (fn) => {
      ch.on('data', (d: Buffer) => fn(d));
      // With a pty the remote side merges stderr into the terminal; anything still sent apart is shown too.
      ch.stderr.on('data', (d: Buffer) => fn(d));
    },
    onExit: (fn) => {
      exitFns.push(fn);
    },
    close: () => {
      if (!ended) ch.close();
    },
  };
}
