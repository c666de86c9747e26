/**
 * The browser side of the portal pages, as inline scripts (the hub has no build step and its CSP
 * allows inline scripts from itself). One EventSource per page feeds live job rows, toasts and,
 * when the user allowed it, browser notifications. Everything from the server goes into the page
 * through textContent, never innerHTML.
 */

/** What every page of a logged-in user gets when jobs are enabled (pages/layout.ts). */
export function portalNotifications(hubPrefix: string, cursor = ''): string {
  return `${TOAST_STYLE}${portalScript(hubPrefix, cursor)}`;
}

const TOAST_STYLE = `<style>
  #toasts { position:fixed; right:1rem; bottom:1rem; display:flex; flex-direction:column; gap:.5rem; z-index:10; max-width:24rem; }
  .toast { background:#111827; color:#fff; padding:.6rem .9rem; border-radius:8px; box-shadow:0 2px 8px rgba(0,0,0,.25); }
  .toast.failed { background:var(--bad); } .toast.finished, .toast.started { background:var(--ok); }
</style>`;

export const PORTAL_STYLE = `<style>
  #toasts { position:fixed; right:1rem; bottom:1rem; display:flex; flex-direction:column; gap:.5rem; z-index:10; max-width:24rem; }
  .toast { background:#111827; color:#fff; padding:.6rem .9rem; border-radius:8px; box-shadow:0 2px 8px rgba(0,0,0,.25); }
  .toast.failed { background:var(--bad); } .toast.finished, .toast.started { background:var(--ok); }
  pre.output { background:#0b1020; color:#e5e7eb; padding:.75rem; border-radius:6px; max-height:24rem; overflow:auto; white-space:pre-wrap; font-size:.85rem; }
  textarea { width:100%; min-height:12rem; font-family:ui-monospace,monospace; font-size:.9rem; padding:.5rem; border:1px solid #c9cfdb; border-radius:6px; }
  .state-RUNNING { color:var(--ok); font-weight:600; } .state-FAILED, .state-TIMEOUT, .state-OUT_OF_MEMORY, .state-NODE_FAIL { color:var(--bad); font-weight:600; }
</style>`;

/**
 * Toasts + notifications + live rows. Rows carry data-job="ID" and cells data-f="state" etc.;
 * `window.atriumOnJob(job)` lets a page react further (the detail page's output follower).
 * `cursor` is the event id of the moment the page was rendered: the stream opens after it, so
 * what changed in between is replayed (events.ts); on "resync" the page re-reads its rows.
 */
export function portalScript(hubPrefix: string, cursor = ''): string {
  return `<div id="toasts" aria-live="polite"></div>
<script>
(function () {
  var hub = ${JSON.stringify(hubPrefix)};
  var box = document.getElementById('toasts');
  function toast(text, kind) {
    var d = document.createElement('div');
    d.className = 'toast ' + (kind || '');
    d.setAttribute('role', 'status');
    d.textContent = text;
    box.appendChild(d);
    setTimeout(function () { d.remove(); }, 10000);
    if (window.Notification && Notification.permission === 'granted') {
      try { new Notification('Atrium', { body: text }); } catch (e) { /* some browsers need a service worker */ }
    }
  }
  window.atriumToast = toast;
  var btn = document.getElementById('notify');
  if (btn) {
    if (!window.Notification || Notification.permission !== 'default') btn.hidden = true;
    btn.addEventListener('click', function () { Notification.requestPermission().then(function () { btn.hidden = true; }); });
  }
  function set(row, f, v) {
    var c = row.querySelector('[data-f="' + f + '"]');
    if (c) { c.textContent = v == null ? '' : String(v); if (f === 'state') c.className = 'state-' + v; }
  }
  function update(j) {
    var rows = document.querySelectorAll('[data-job="' + j.id + '"]');
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      set(r, 'state', j.state); set(r, 'reason', j.reason || ''); set(r, 'node_list', j.node_list || '');
      set(r, 'elapsed', j.elapsed || ''); set(r, 'time_left', j.time_left || ''); set(r, 'exit_code', j.exit_code || '');
      var cancel = r.querySelector('.cancel');
      if (cancel && !j.active) cancel.remove();
    }
    if (window.atriumOnJob) window.atriumOnJob(j);
  }
  function resync() {
    var seen = {};
    var rows = document.querySelectorAll('[data-job]');
    for (var i = 0; i < rows.length && i < 200; i++) {
      var id = rows[i].getAttribute('data-job');
      if (!id || seen[id]) continue;
      seen[id] = true;
      fetch(hub + 'api/jobs/' + encodeURIComponent(id), { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) { if (j) update(j); })
        .catch(function () { /* the next event or reload shows it */ });
    }
  }
  var cursor = ${JSON.stringify(cursor)};
  var es = new EventSource(hub + 'api/jobs/events' + (cursor ? '?after=' + encodeURIComponent(cursor) : ''));
  es.addEventListener('resync', resync);
  es.addEventListener('job', function (ev) {
    var j = JSON.parse(ev.data);
    update(j);
    if (j.what !== 'tick' && j.what !== 'update') toast(j.message, j.what);
  });
  es.addEventListener('session', function (ev) {
    var s = JSON.parse(ev.data);
    toast(s.message, s.what);
    if (window.atriumOnSession) window.atriumOnSession(s);
  });
})();
</script>`;
}

/** Tail and follow one output file of a job (the file is read as the job's user by the hub). */
export function outputScript(hubPrefix: string, jobId: string, active: boolean, task: number | null = null): string {
  return `<script>
(function () {
  var base = ${JSON.stringify(hubPrefix)} + 'api/jobs/' + ${JSON.stringify(jobId)} + '/output?${task === null ? '' : `task=${task}&`}stream=';
  var active = ${active ? 'true' : 'false'};
  ['stdout', 'stderr'].forEach(function (stream) {
    var pre = document.getElementById('out-' + stream);
    var note = document.getElementById('note-' + stream);
    if (!pre) return;
    var next = null;
    function load() {
      fetch(base + stream + (next === null ? '' : '&offset=' + next), { credentials: 'same-origin' })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, b: b }; }); })
        .then(function (x) {
          if (!x.ok) { note.textContent = x.b.message || 'not readable yet'; }
          else {
            note.textContent = x.b.path + ' (' + x.b.size + ' bytes)';
            if (next === null && x.b.offset > 0) pre.textContent = '… (earlier output not shown)\\n';
            pre.textContent += x.b.text;
            next = x.b.next_offset;
            pre.scrollTop = pre.scrollHeight;
          }
          if (active) setTimeout(load, 2000);
        })
        .catch(function () { if (active) setTimeout(load, 5000); });
    }
    load();
  });
  window.atriumOnJob = function (j) {
    if (j.id === ${JSON.stringify(jobId)} && !j.active) { setTimeout(function () { active = false; }, 2500); }
  };
})();
</script>`;
}

export function notifyButton(): string {
  return '<button id="notify" type="button">Enable browser notifications</button>';
}
