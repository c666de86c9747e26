/**
 * The hub's icon: the hub's logo mark (the same SVG as /hub/logo: a white A on the accent blue), served at
 * /hub/favicon.ico (linked from every page), /hub/favicon.svg, and /favicon.ico for browsers that
 * ask the site root. Browsers take SVG from any URL when the content type says so.
 */
import type { FastifyInstance } from 'fastify';

export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#2458d6"/><path d="M16 48 32 14l16 34h-8l-8-18-8 18z" fill="#fff"/></svg>';

/** Registers the icon routes under the plugin's prefix; `paths` relative to it. */
export function faviconRoutes(paths: string[]) {
  return async function favicon(app: FastifyInstance): Promise<void> {
    for (const p of paths) {
      app.get(p, async (_req, reply) =>
        reply.type('image/svg+xml').header('Cache-Control', 'public, max-age=86400').header('X-Content-Type-Options', 'nosniff').send(FAVICON_SVG),
      );
    }
  };
}
