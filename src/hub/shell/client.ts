/**
 * The browser side of the web shell, served as /hub/shell-assets/shell.js (no build step, no
 * CDN): xterm.js in the page, the websocket of socket.ts, the wire protocol of bridge.ts. Kept as
 * a string so that tsc carries it into dist/ with the rest of the hub.
 */
export const SHELL_CLIENT_JS = String.raw`(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('shell-config').textContent);
  var status = document.getElementById('shell-status');
  var term = new Terminal({ cursorBlink: true, fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace', fontSize: 14, scrollback: 5000 });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById('terminal'));
  try { fit.fit(); } catch (e) { /* hidden element: keep 80x24 */ }
  var scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var url = scheme + '//' + location.host + cfg.socket + '?_xsrf=' + encodeURIComponent(cfg.xsrf) +
    '&cols=' + term.cols + '&rows=' + term.rows;
  var ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  function say(text, bad) {
    status.textContent = text;
    status.className = bad ? 'error' : 'muted';
  }
  function send(msg) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }
  say('Connecting\u2026');
  ws.onopen = function () { say('Connected to ' + cfg.label); term.focus(); };
  ws.onmessage = function (ev) {
    if (typeof ev.data !== 'string') { term.write(new Uint8Array(ev.data)); return; }
    var m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (m.type === 'error') say(m.message, true);
    else if (m.type === 'exit') say('The shell ended' + (m.code !== null && m.code !== undefined ? ' (status ' + m.code + ')' : '') + '. Reload the page for a new one.');
    else if (m.type === 'closed' && m.reason === 'idle') say('Closed after a while without input. Reload the page for a new shell.', true);
  };
  ws.onclose = function (ev) {
    document.body.setAttribute('data-shell-closed', String(ev.code));
    if (status.className !== 'error' && !/ended/.test(status.textContent)) {
      say(ev.code === 1006 ? 'The connection was refused or lost. Reload the page to try again.' : 'Disconnected' + (ev.reason ? ': ' + ev.reason : '') + '.', ev.code !== 1000);
    }
  };
  term.onData(function (d) { send({ type: 'input', data: d }); });
  term.onResize(function (s) { send({ type: 'resize', cols: s.cols, rows: s.rows }); });
  window.addEventListener('resize', function () { try { fit.fit(); } catch (e) { /* ignore */ } });
})();
`;
