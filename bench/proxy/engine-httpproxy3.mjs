// Candidate engine for the decision record: http-proxy-3 with a keep-alive agent, single route.
// Usage: node engine-httpproxy3.mjs LISTEN_PORT TARGET_URL
import http from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(new URL('../../node_modules/configurable-http-proxy/package.json', import.meta.url));
const { createProxyServer } = require('http-proxy-3');
const [port, target] = [Number(process.argv[2]), process.argv[3]];
const agent = new http.Agent({ keepAlive: true });
const proxy = createProxyServer({ xfwd: true, ws: true, agent });
proxy.on('error', (_e, _req, res) => { try { res.writeHead?.(503); res.end?.(); } catch {} });
const server = http.createServer((req, res) => proxy.web(req, res, { target }));
server.on('upgrade', (req, socket, head) => proxy.ws(req, socket, head, { target }));
server.listen(port, '127.0.0.1', () => console.log(`ready ${port}`));
process.on('SIGTERM', () => process.exit(0));
