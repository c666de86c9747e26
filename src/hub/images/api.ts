/**
 * /hub/api/images/*: preloads and pruning (scope `images`: admins and teaching staff). The same
 * PreloadManager state the Images page shows and `atrium images preload` prints.
 */
import type { FastifyInstance } from 'fastify';
import { needsScope } from '../api/guard.js';
import { objectBody, stringList } from '../api/body.js';
import { atriumError } from '../errors.js';
import { imagesInUse, requirePreloads } from './registry.js';
import { checkMayPrune } from './prune-scope.js';

export async function imagesApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;

  app.get('/api/images/preloads', async (req) => {
    needsScope(hub, req, ['images']);
    return { preloads: requirePreloads(hub).list() };
  });

  app.get('/api/images/preload', async (req) => {
    needsScope(hub, req, ['images']);
    const image = (req.query as Record<string, unknown>).image;
    const view = requirePreloads(hub).get(typeof image === 'string' ? image : '');
    if (!view) throw atriumError('ATRIUM_ERR_HTTP_NOT_FOUND', 'That image is not being preloaded');
    return view;
  });

  app.post('/api/images/preloads', async (req, reply) => {
    const { ident } = needsScope(hub, req, ['images']);
    const body = objectBody(req);
    const images = stringList(body.images, 'images');
    if (images.length === 0 || images.length > 50) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'images: give 1 to 50 image references');
    if (body.continuous !== undefined && typeof body.continuous !== 'boolean') throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'continuous must be true or false');
    const views = await requirePreloads(hub).request(images, { continuous: body.continuous === true, by: ident.user.name });
    reply.code(202);
    return { preloads: views };
  });

  app.delete('/api/images/preload', async (req, reply) => {
    needsScope(hub, req, ['images']);
    const image = (req.query as Record<string, unknown>).image;
    if (!requirePreloads(hub).forget(typeof image === 'string' ? image : '')) throw atriumError('ATRIUM_ERR_HTTP_NOT_FOUND', 'That image is not being preloaded');
    reply.code(204);
    return '';
  });

  app.post('/api/images/prune', async (req) => {
    const { ident } = needsScope(hub, req, ['images']);
    const body = objectBody(req);
    if (typeof body.image !== 'string') throw atriumError('ATRIUM_ERR_IMAGES_BAD_REF', 'image: the version to keep, e.g. registry:5000/course/python:2');
    checkMayPrune(hub, ident, body.image);
    return { nodes: await requirePreloads(hub).prune(body.image, imagesInUse(hub)) };
  });
}
