/**
 * Turning a listen address into one to connect to. A server told to listen on every interface
 * ('', '*', 0.0.0.0, ::) is reached on loopback from this host; anything else is used as given.
 */
export function connectHost(listenIp: string): string {
  if (listenIp === '' || listenIp === '*' || listenIp === '0.0.0.0') return '127.0.0.1';
  if (listenIp === '::') return '::1';
  return listenIp;
}

/** host:port for a URL, with IPv6 literals bracketed. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}
