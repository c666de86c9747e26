/**
 * What the spawn and home pages add for kinds that know more than "running or not": the live
 * free-resources table beside the options form (SpawnerKind.resources, refreshed by a small
 * script from GET /hub/api/spawner/resources) and when a server ends by itself.
 */
import type { HubContext } from '../context.js';
import type { ServerRow, UserRow } from '../db/index.js';
import { endsAt } from '../spawn/server-extras.js';
import type { ResourceTable } from '../../spawners/spawner.js';
import { esc } from './layout.js';

/** How often the page asks again; the kind's cache decides how often the backend is asked. */
const REFRESH_SECONDS = 10;
/** The first table is rendered with the page; a slow backend must not hold the page longer. */
const FIRST_RENDER_WAIT_MS = 3000;

function tableHtml(t: ResourceTable): string {
  const head = t.columns.map((c) => `<th>${esc(c.label)}</th>`).join('');
  const body = t.rows.map((r) => `<tr>${t.columns.map((c) => `<td>${esc(r[c.key] ?? '')}</td>`).join('')}</tr>`).join('');
  return `<table id="resources-table"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** The options form with the free-resources card beside it, or the form alone for kinds without one. */
export async function withResources(hub: HubContext, user: UserRow, formHtml: string): Promise<string> {
  const kind = hub.spawnerKind;
  if (!kind.resources) return formHtml;
  let first = '<p class="muted" id="resources-status">Loading…</p>';
  try {
    const t = await Promise.race([
      kind.resources(hub.spawnerOptions, hub.spawns.spawnUser(user)),
      new Promise<null>((r) => setTimeout(() => r(null), FIRST_RENDER_WAIT_MS).unref()),
    ]);
    if (t) first = `${tableHtml(t)}<p class="muted" id="resources-status">As of <time datetime="${esc(t.at)}">${esc(t.at.slice(11, 19))} UTC</time></p>`;
  } catch {
    first = '<p class="muted" id="resources-status">The cluster does not answer right now.</p>';
  }
  const url = `${hub.urls.hub}api/spawner/resources`;
  return `<div style="display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start">
    <div style="flex:1 1 22rem">${formHtml}</div>
    <div class="card" style="flex:1 1 22rem" id="resources"><h2>Free resources</h2><div id="resources-body">${first}</div></div>
  </div>
  <script>
    (function () {
      var body = document.getElementById('resources-body');
      function cell(tag, text) { var e = document.createElement(tag); e.textContent = text; return e; }
      function render(t) {
        var table = document.createElement('table'); table.id = 'resources-table';
        var hr = document.createElement('tr');
        t.columns.forEach(function (c) { hr.appendChild(cell('th', c.label)); });
        table.appendChild(document.createElement('thead')).appendChild(hr);
        var tb = table.appendChild(document.createElement('tbody'));
        t.rows.forEach(function (r) {
          var tr = tb.appendChild(document.createElement('tr'));
          t.columns.forEach(function (c) { tr.appendChild(cell('td', r[c.key] == null ? '' : String(r[c.key]))); });
        });
        var st = cell('p', 'As of ' + t.at.slice(11, 19) + ' UTC'); st.className = 'muted'; st.id = 'resources-status';
        body.replaceChildren(table, st);
      }
      function refresh() {
        fetch(${JSON.stringify(url).replace(/</g, '\\u003c')}, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
          .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
          .then(render)
          .catch(function () { var s = document.getElementById('resources-status'); if (s) s.textContent = 'The cluster does not answer right now; retrying.'; });
      }
      setInterval(refresh, ${REFRESH_SECONDS * 1000});
    })();
  </script>`;
}

/** " · ends 2026-11-30 19:00 UTC" for the home page, or ''. */
export function endsNote(row: ServerRow | undefined): string {
  const at = endsAt(row);
  return at ? ` <span class="muted">· ends <time datetime="${esc(at)}">${esc(at.slice(0, 16).replace('T', ' '))} UTC</time></span>` : '';
}
