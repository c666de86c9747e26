/**
 * The web shell into an SSH-host session: a channel with a pseudo-terminal over the host's existing
 * connection (src/shared/ssh/connection-pool.ts), running a login shell as the server's remote
 * user through the same userPrefix the server was started with (sudo -n -H -u USER --, runuser …).
 * The server's token never enters it: the token reached the server on stdin, not through the
 * environment of the login. Closing the channel ends the shell (src/shared/ssh/pty-shell.ts).
 */
import { SpawnError, type ShellOptions, type ShellSession } from '../spawner.js';
import type { HostConnection } from '../../shared/ssh/connection-pool.js';
import { channelSession, execWithPty, LOGIN_SCRIPT } from '../../shared/ssh/pty-shell.js';
import { commandLine } from './remote-scripts.js';

export async function openSshShell(conn: HostConnection, userPrefix: string[], opts: ShellOptions): Promise<ShellSession> {
  try {
    const ch = await execWithPty(conn, commandLine([...userPrefix, '/bin/sh', '-c', LOGIN_SCRIPT]), opts);
    return channelSession(ch, `ssh host ${conn.host.name}`);
  } catch (err) {
    throw new SpawnError('The shell could not be started', `ssh shell on ${conn.host.name}: ${(err as Error).message}`);
  }
}
