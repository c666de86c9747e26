/**
 * A target may answer before it has read the whole request body: the hub's 413 for an oversized
 * body, a user server's 401 to an upload. HTTP/1.1 allows it (RFC 9112 9.3) and the answer must
 * reach the client, not a 502. Three things stand in the way, one per function here:
 *
 * 1. Upstream write errors. The target answers, closes, and its kernel resets the connection when
 *    the rest of the body arrives. Our next write then fails with EPIPE/ECONNRESET, and node
 *    destroys the socket at once, before undici has read the answer already waiting in the
 *    receive buffer. `keepReadingAfterWriteError` turns such write errors into a discarding sink,
 *    so undici parses the answer (or reads the reset) and ends the request itself.
 * 2. undici destroys a request body it stops reading. Handed the client's IncomingMessage, it
 *    would destroy the client's socket, often before the client has read the answer.
 *    `detachableBody` gives undici its own stream; when undici drops it, the client's body is
 *    drained and discarded instead.
 * 3. Draining forever. After the answer, node's server keeps reading the rest of the body so the
 *    connection can carry the next request; `lingerAfterEarlyResponse` bounds that, as nginx's
 *    lingering close does.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';

/** How long an upstream socket may stay open after a write error, waiting to read the answer. */
const WRITE_ERROR_GRACE_MS = 5_000;

/** How long a client may keep uploading after its answer was sent (nginx: lingering_time 30s). */
export const LINGER_MS = 30_000;

type WriteGeneric = (writev: boolean, data: unknown, encoding: string, cb: (err?: Error | null) => void) => void;

function isPeerGone(err: (Error & { code?: string }) | null | undefined): err is Error & { code?: string } {
  return err != null && (err.code === 'EPIPE' || err.code === 'ECONNRESET');
}

/** See 1. above. Applied once per upstream connection, not per request. */
export function keepReadingAfterWriteError(socket: Socket): void {
  // _writeGeneric is the one funnel of net.Socket's _write and _writev.
  const s = socket as unknown as { _writeGeneric: WriteGeneric };
  const writeGeneric = s._writeGeneric;
  let broken = false;
  s._writeGeneric = function (this: Socket, writev, data, encoding, cb) {
    if (broken) return cb();
    writeGeneric.call(this, writev, data, encoding, (err) => {
      if (!isPeerGone(err)) return cb(err);
      broken = true;
      // The read side normally ends within a round trip (the answer, then EOF or the reset);
      // the timer only guards against a peer that never finishes.
      const timer = setTimeout(() => socket.destroy(err), WRITE_ERROR_GRACE_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      cb();
    });
  };
}

/** See 2. above. */
export function detachableBody(req: IncomingMessage): Readable {
  const feed = new PassThrough();
  req.pipe(feed);
  feed.once('close', () => {
    // "complete" is not enough: the parser may be done while data still sits in req's buffer,
    // and a paused req with a full buffer would stall the connection.
    if (req.readableEnded) return;
    req.unpipe(feed);
    req.resume();
  });
  return feed;
}

/**
 * See 3. above. Called once the answer is complete; if the client is still sending the body, it
 * gets LINGER_MS to finish (the connection then stays usable) or stop, else it is closed.
 */
export function lingerAfterEarlyResponse(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  const socket = req.socket;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  // a kept-alive socket sees many requests: leave no listener behind on it
  const done = (): void => {
    clearTimeout(timer);
    req.off('end', done);
    socket.off('close', done);
  };
  req.once('end', done);
  socket.once('close', done);
}
