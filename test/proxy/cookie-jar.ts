/**
 * Minimal browser stand-in for the JupyterHub end-to-end test: a cookie jar (name → value; paths
 * ignored on purpose, so the proxy's hub-cookie stripping is exercised) and manual redirects.
 */
export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  private store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now()));
      if (expired || value === '' || value === '""') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** One request, no redirect following. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(path, this.base);
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.store(res);
    return res;
  }

  /** Follow redirects like a browser (POST becomes GET after 302/303). Returns the final response and URL. */
  async follow(path: string, init: RequestInit = {}, maxHops = 20): Promise<{ res: Response; url: string; hops: string[] }> {
    let url = new URL(path, this.base).href;
    let req = init;
    const hops: string[] = [];
    for (let i = 0; i < maxHops; i++) {
      const res = await this.fetch(url, req);
      const loc = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !loc) return { res, url, hops };
      await res.arrayBuffer();
      url = new URL(loc, url).href;
      hops.push(`${res.status} ${new URL(url).pathname}`);
      req = {};
    }
    throw new Error(`too many redirects: ${hops.join(' -> ')}`);
  }
}
