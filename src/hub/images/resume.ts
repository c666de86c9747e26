/**
 * The stored side of preloads (tables image_preloads and image_preload_nodes, migration 7): what
 * was asked for, whether a one-off preload finished, when a restart resumed it, and each node's
 * last status. A hub restarted in the middle of a preload loads this, shows it (a pull that was in
 * flight shows as waiting, "interrupted by a hub restart") and carries on with the nodes that do
 * not have the image yet.
 */
import type { Db } from '../db/index.js';

export type NodePullStatus = 'waiting' | 'pulling' | 'done' | 'failed' | 'skipped';

export interface NodeProgress {
  node: string;
  hostname: string;
  status: NodePullStatus;
  bytesDone: number;
  bytesTotal: number;
  message: string;
  updated: string;
}

export interface StoredPreload {
  image: string;
  continuous: boolean;
  requestedBy: string;
  created: string;
  finished: string | null;
  resumed: string | null;
  nodes: Map<string, NodeProgress>;
}

interface NodeRow {
  image: string; node: string; hostname: string; status: NodePullStatus; message: string;
  bytes_done: number; bytes_total: number; updated: string;
}

export class PreloadStore {
  constructor(private readonly db: Db) {}

  load(): StoredPreload[] {
    const rows = this.db.prepare('SELECT image, continuous, requested_by, created, finished, resumed FROM image_preloads ORDER BY created').all() as {
      image: string; continuous: number; requested_by: string; created: string; finished: string | null; resumed: string | null;
    }[];
    const nodes = this.db.prepare('SELECT * FROM image_preload_nodes ORDER BY image, hostname').all() as NodeRow[];
    return rows.map((r) => {
      const m = new Map<string, NodeProgress>();
      for (const n of nodes.filter((x) => x.image === r.image)) {
        // A pull the restart cut off is not going on any more: say so until it is carried on.
        const cut = n.status === 'pulling' || n.status === 'waiting';
        m.set(n.node, {
          node: n.node, hostname: n.hostname, status: cut ? 'waiting' : n.status,
          bytesDone: cut ? 0 : n.bytes_done, bytesTotal: cut ? 0 : n.bytes_total,
          message: cut ? 'interrupted by a hub restart' : n.message, updated: n.updated,
        });
      }
      return { image: r.image, continuous: r.continuous === 1, requestedBy: r.requested_by, created: r.created, finished: r.finished, resumed: r.resumed, nodes: m };
    });
  }

  /** A new request (or a repeat): it runs afresh, so neither finished nor resumed. */
  request(image: string, continuous: boolean, by: string, created: string): void {
    this.db.prepare(`INSERT INTO image_preloads (image, continuous, requested_by, created) VALUES (?, ?, ?, ?)
      ON CONFLICT(image) DO UPDATE SET continuous = excluded.continuous, requested_by = excluded.requested_by, finished = NULL, resumed = NULL`)
      .run(image, continuous ? 1 : 0, by, created);
  }

  forget(image: string): void {
    this.db.prepare('DELETE FROM image_preload_nodes WHERE image = ?').run(image);
    this.db.prepare('DELETE FROM image_preloads WHERE image = ?').run(image);
  }

  finished(image: string, at: string): void {
    this.db.prepare('UPDATE image_preloads SET finished = ? WHERE image = ?').run(at, image);
  }

  resumed(image: string, at: string): void {
    this.db.prepare('UPDATE image_preloads SET resumed = ? WHERE image = ?').run(at, image);
  }

  node(image: string, n: NodeProgress): void {
    this.db.prepare(`INSERT INTO image_preload_nodes (image, node, hostname, status, message, bytes_done, bytes_total, updated)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(image, node) DO UPDATE SET hostname = excluded.hostname, status = excluded.status,
      message = excluded.message, bytes_done = excluded.bytes_done, bytes_total = excluded.bytes_total, updated = excluded.updated`)
      .run(image, n.node, n.hostname, n.status, n.message, n.bytesDone, n.bytesTotal, n.updated);
  }

  dropNode(image: string, node: string): void {
    this.db.prepare('DELETE FROM image_preload_nodes WHERE image = ? AND node = ?').run(image, node);
  }
}
