// A browser as the benches need one: a cookie jar (path-scoped, cleared by empty or expired
// cookies), manual redirects, the login form with its _xsrf field. Shared by bench/burst/run.mjs
// and bench/images/first-start.mjs; both hubs (Atrium, JupyterHub 3.0) are driven the same way.
export class Browser {
  constructor(base, name) {
    this.base = base;
    this.name = name;
    this.cookies = new Map();
  }

  /** One request; returns status, location, body text, the time it took (ms) and the URL. */
  async request(method, url, { body, headers = {} } = {}) {
    const u = new URL(url, this.base);
    const cookie = [...this.cookies.values()].filter((c) => u.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
    const t0 = performance.now();
    const res = await fetch(u, { method, body, redirect: 'manual', headers: { ...headers, ...(cookie ? { cookie } : {}) }, signal: AbortSignal.timeout(120_000) });
    const text = await res.text();
    const ms = performance.now() - t0;
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const path = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const key = `${name} ${path}`;
      if (!value || value === '""' || /max-age=0\b|expires=thu, 01 jan 1970/i.test(sc)) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path });
    }
    if (process.env.BENCH_DEBUG) console.error('[browser]', this.name, method, u.pathname, res.status, res.headers.get('location') ?? '');
    return { status: res.status, location: res.headers.get('location'), text, ms, url: u.toString() };
  }

  async follow(url, max = 12) {
    let r = await this.request('GET', url);
    for (let i = 0; i < max && r.status >= 300 && r.status < 400 && r.location; i++) r = await this.request('GET', new URL(r.location, r.url).toString());
    return r;
  }

  /** GET and POST the login form (any password: both hubs run a dummy authenticator); the POST's answer. */
  async login() {
    const page = await this.request('GET', '/hub/login');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(page.text)?.[1];
    const form = new URLSearchParams({ username: this.name, password: 'pw', ...(xsrf ? { _xsrf: xsrf } : {}) });
    const r = await this.request('POST', '/hub/login', { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    if (r.status !== 302) throw new Error(`login answered ${r.status}`);
    return r;
  }
}
