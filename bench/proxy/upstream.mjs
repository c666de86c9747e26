// Lean benchmark upstream: node:http, fixed bodies, websocket echo. Loopback only.
// Usage: node upstream.mjs PORT  (prints "ready PORT" when listening)
import http from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 0);
const small = Buffer.alloc(1024, 'a');
const large = Buffer.alloc(1024 * 1024, 'b');
const smallHeaders = { 'content-type': 'text/plain', 'content-length': String(small.length) };
const largeHeaders = { 'content-type': 'application/octet-stream', 'content-length': String(large.length) };

const server = http.createServer((req, res) => {
  if (req.method === 'POST') {
    // echo size only: the 1 MB upload case measures the request direction
    let n = 0;
    req.on('data', (c) => { n += c.length; });
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(String(n)); });
    return;
  }
  if (req.url.includes('/large')) res.writeHead(200, largeHeaders).end(large);
  else res.writeHead(200, smallHeaders).end(small);
});
server.keepAliveTimeout = 60_000;
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (m, isBinary) => ws.send(m, { binary: isBinary })));
server.listen(port, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
