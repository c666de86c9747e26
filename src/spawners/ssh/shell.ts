/**
 * The web shell into an SSH-host session: a channel with a pseudo-terminal over the host's existing
 * connection (connection-pool.ts), running a login shell as the server's remote user through the
 * same userPrefix the server was started with (sudo -n -H -u USER --, runuser …). The server's
 * token never enters it: the token reached the server on stdin, not through the environment of the
 * login. Closing the channel ends the shell (see LOGIN).
 * Each open shell holds one session of the shared connection: sshd's MaxSessions bounds how many
 * shells and server commands a host takes at once.
 */
import type { ClientChannel } from 'ssh2';
import { SpawnError, type ShellOptions, type ShellSession } from '../spawner.js';
import type { HostConnection } from '../../shared/ssh/connection-pool.js';
import { commandLine } from './remote-scripts.js';

/**
 * As the user: start in their home, prefer bash. A closed channel hangs up the terminal, but the
 * kernel tells only the session leader, the userPrefix command, and runuser blocks SIGHUP (sudo
 * relays it). So a watchdog beside the shell checks every 2 s that the terminal is still there
 * and, once it is gone, sends the shell the SIGHUP it missed; bash passes it on to its jobs.
 */
const LOGIN = [
  'cd ~ 2>/dev/null',
  'p=$$',
  "( trap '' HUP; while sleep 2; do [ -t 0 ] || break; kill -0 \"$p\" 2>/dev/null || exit 0; done; kill -HUP \"$p\" 2>/dev/null ) &",
  'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi',
].join('\n');

export async function openSshShell(conn: HostConnection, userPrefix: string[], opts: ShellOptions): Promise<ShellSession> {
  let ch: ClientChannel;
  try {
    const client = await conn.get();
    if (opts.signal.aborted) throw new Error('cancelled');
    ch = await new Promise<ClientChannel>((resolve, reject) =>
      client.exec(commandLine([...userPrefix, '/bin/sh', '-c', LOGIN]), { pty: { term: 'xterm-256color', cols: opts.cols, rows: opts.rows, width: 0, height: 0 } }, (err, channel) => (err ? reject(err) : resolve(channel))),
    );
  } catch (err) {
    throw new SpawnError('The shell could not be started', `ssh shell on ${conn.host.name}: ${(err as Error).message}`);
  }
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
    description: `ssh host ${conn.host.name}`,
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
      if (ended) return;
      ch.close();
    },
  };
}
