/**
 * Command-line flags, spelled exactly like configurable-http-proxy's so JupyterHub (or anyone
 * with a CHP command line) can swap the binary. Flags we do not implement are accepted and
 * reported back as warnings instead of failing, because JupyterHub may pass them.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface ProxyOptions {
  ip: string;
  port: number;
  apiIp: string;
  apiPort: number;
  defaultTarget?: string;
  errorTarget?: string;
  errorPath?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Incoming (client) socket inactivity timeout, ms; 0 = none. */
  timeoutMs: number;
  /** Time to wait for the target's response headers, ms; 0 = none. */
  proxyTimeoutMs: number;
  xForward: boolean;
  hostRouting: boolean;
  includePrefix: boolean;
  prependPath: boolean;
  customHeaders: Record<string, string>;
  pidFile?: string;
  sslKey?: string;
  sslCert?: string;
  sslCa?: string;
  metricsIp: string;
  metricsPort?: number;
  keepAliveTimeoutMs: number;
  authToken: string;
  /** Sent to hub routes as X-Atrium-Proxy-Proof (see headers.ts); never taken from argv. */
  proxyProof?: string;
  /** Processes serving the public port (cluster.ts); 1 = this process does everything. */
  workers: number;
  /** Plain-HTTP GET/HEAD on raw sockets (fast-path.ts); false = node's server for everything. */
  fastPath: boolean;
}

export interface ParsedArgs {
  options: ProxyOptions;
  warnings: string[];
  help: boolean;
}

type Setter = (o: ProxyOptions, v: string) => void;

function port(name: string): (v: string) => number {
  return (v) => {
    const n = Number.parseInt(v, 10);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name}: not a port: ${v}`);
    return n;
  };
}

function ms(name: string): (v: string) => number {
  return (v) => {
    const n = Number.parseInt(v, 10);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: not a number of milliseconds: ${v}`);
    return n;
  };
}

/** A count of worker processes, or "auto" for one per CPU core. */
function workers(v: string): number {
  if (v === 'auto') return availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers: expected a number from 1 to 256 or "auto", got ${v}`);
  return n;
}

const LOG_LEVELS = new Set(['debug', 'info', 'warn', 'error']);

const WITH_VALUE: Record<string, Setter> = {
  '--ip': (o, v) => { o.ip = v; },
  '--port': (o, v) => { o.port = port('--port')(v); },
  '--api-ip': (o, v) => { o.apiIp = v; },
  '--api-port': (o, v) => { o.apiPort = port('--api-port')(v); },
  '--default-target': (o, v) => { o.defaultTarget = v; },
  '--error-target': (o, v) => { o.errorTarget = v; },
  '--error-path': (o, v) => { o.errorPath = v; },
  '--log-level': (o, v) => {
    const l = v.toLowerCase();
    if (!LOG_LEVELS.has(l)) throw new Error(`--log-level: expected debug, info, warn or error, got ${v}`);
    o.logLevel = l as ProxyOptions['logLevel'];
  },
  '--timeout': (o, v) => { o.timeoutMs = ms('--timeout')(v); },
  '--proxy-timeout': (o, v) => { o.proxyTimeoutMs = ms('--proxy-timeout')(v); },
  '--keep-alive-timeout': (o, v) => { o.keepAliveTimeoutMs = ms('--keep-alive-timeout')(v); },
  '--custom-header': (o, v) => {
    const i = v.indexOf(':');
    if (i <= 0) throw new Error(`--custom-header: expected "name: value", got ${v}`);
    o.customHeaders[v.slice(0, i).trim().toLowerCase()] = v.slice(i + 1).trim();
  },
  '--pid-file': (o, v) => { o.pidFile = v; },
  '--ssl-key': (o, v) => { o.sslKey = v; },
  '--ssl-cert': (o, v) => { o.sslCert = v; },
  '--ssl-ca': (o, v) => { o.sslCa = v; },
  '--metrics-ip': (o, v) => { o.metricsIp = v; },
  '--metrics-port': (o, v) => { o.metricsPort = port('--metrics-port')(v); },
  '--workers': (o, v) => { o.workers = workers(v); },
  // A path, not the secret: argv is visible to every local user in ps.
  '--proxy-proof-file': (o, v) => { o.proxyProof = readProofFile(v); },
};

function readProofFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new Error(`--proxy-proof-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (text.length < 16) throw new Error(`--proxy-proof-file: ${path} holds no proof (at least 16 characters)`);
  return text;
}

const SWITCHES: Record<string, Setter> = {
  '--no-x-forward': (o) => { o.xForward = false; },
  '--host-routing': (o) => { o.hostRouting = true; },
  '--no-include-prefix': (o) => { o.includePrefix = false; },
  '--no-prepend-path': (o) => { o.prependPath = false; },
  '--no-fast-path': (o) => { o.fastPath = false; },
};

/** CHP flags we accept so a CHP command line still starts us; each one logs a warning. */
const IGNORED_WITH_VALUE = new Set([
  '--ssl-protocol', '--ssl-ciphers', '--ssl-dhparam', '--api-ssl-key', '--api-ssl-cert',
  '--api-ssl-ca', '--client-ssl-key', '--client-ssl-cert', '--client-ssl-ca', '--redirect-port',
  '--redirect-to', '--protocol-rewrite', '--storage-backend',
]);
const IGNORED_SWITCHES = new Set([
  '--ssl-request-cert', '--ssl-reject-unauthorized', '--ssl-allow-rc4', '--api-ssl-request-cert',
  '--api-ssl-reject-unauthorized', '--client-ssl-request-cert', '--client-ssl-reject-unauthorized',
  '--auto-rewrite', '--change-origin', '--insecure',
]);

export function defaultOptions(env: NodeJS.ProcessEnv = process.env): ProxyOptions {
  return {
    ip: '',
    port: 8000,
    apiIp: 'localhost',
    apiPort: 0, // 0 = "port + 1", resolved after parsing
    logLevel: 'info',
    timeoutMs: 0,
    proxyTimeoutMs: 0,
    xForward: true,
    hostRouting: false,
    includePrefix: true,
    prependPath: true,
    customHeaders: {},
    metricsIp: '',
    keepAliveTimeoutMs: 5000,
    authToken: env.CONFIGPROXY_AUTH_TOKEN ?? '',
    proxyProof: env.ATRIUM_PROXY_PROOF?.trim() || undefined,
    workers: 1,
    fastPath: true,
  };
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  const options = defaultOptions(env);
  const warnings: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const takeValue = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    if (name === '-h' || name === '--help') help = true;
    else if (WITH_VALUE[name]) WITH_VALUE[name]!(options, takeValue());
    else if (SWITCHES[name]) SWITCHES[name]!(options, '');
    else if (IGNORED_WITH_VALUE.has(name)) warnings.push(`ignoring unsupported option ${name} ${takeValue()}`);
    else if (IGNORED_SWITCHES.has(name)) warnings.push(`ignoring unsupported option ${name}`);
    else throw new Error(`unknown option ${arg}`);
  }
  if (options.ip === '*') options.ip = '';
  if (options.apiPort === 0) options.apiPort = options.port === 0 ? 0 : options.port + 1;
  if (options.errorTarget && options.errorPath) {
    throw new Error('cannot specify both --error-target and --error-path');
  }
  if (Boolean(options.sslKey) !== Boolean(options.sslCert)) {
    throw new Error('--ssl-key and --ssl-cert must be given together');
  }
  return { options, warnings, help };
}

export const USAGE = `Usage: atrium-proxy [options]

A configurable-http-proxy compatible proxy. The API token comes from CONFIGPROXY_AUTH_TOKEN.

  --ip IP                 public-facing IP (default: all interfaces)
  --port N                public-facing port (default 8000)
  --api-ip IP             REST API IP (default localhost)
  --api-port N            REST API port (default port+1)
  --default-target URL    route for "/" at start-up
  --error-target URL      GET URL/{code}?url=... for error pages
  --error-path DIR        serve DIR/{code}.html or DIR/error.html for errors
  --host-routing          use the Host header as the first path segment
  --no-x-forward          do not add X-Forwarded-* headers
  --no-include-prefix     strip the route prefix before proxying
  --no-prepend-path       do not prepend the target's path
  --custom-header "K: V"  add a header to proxied requests (repeatable)
  --timeout MS            client socket inactivity timeout
  --proxy-timeout MS      wait at most MS for the target's response (504)
  --keep-alive-timeout MS client keep-alive timeout (default 5000)
  --pid-file FILE         write our PID to FILE
  --ssl-key FILE --ssl-cert FILE [--ssl-ca FILE]   serve HTTPS
  --metrics-ip IP --metrics-port N                 Prometheus /metrics
  --proxy-proof-file FILE add the proof in FILE (0600) to requests on hub routes
                          (X-Atrium-Proxy-Proof; env ATRIUM_PROXY_PROOF also works)
  --workers N|auto        Atrium only: serve the public port from N processes (auto =
                          one per core) sharing one route table; default 1
  --no-fast-path          Atrium only: proxy every request through node's HTTP server and
                          undici (default: plain-HTTP GET/HEAD take the lean raw-socket path)
  --log-level debug|info|warn|error
`;
