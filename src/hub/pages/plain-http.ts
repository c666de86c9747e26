/**
 * The login page's plain-HTTP warning (JupyterHub shows one too). Whether the page arrived over
 * HTTPS is known for sure only to the browser: the hub sits behind atrium-proxy and maybe a TLS
 * front proxy, and a forwarded-protocol header is exactly the kind of client-controlled input the
 * hub does not believe. So the browser decides, from `location.protocol`.
 *
 * Loopback (localhost, 127.x, ::1) gets the warning too, worded for what it is: fine on this
 * machine, not for a deployment. A developer sees the notice once and knows what to change; a
 * site that forgot TLS cannot miss it.
 */
const LOCAL = 'This hub is served over plain HTTP. That is fine for trying it on this machine; anywhere else, passwords and tokens would cross the network unencrypted. Put it behind HTTPS before real users sign in.';
const REMOTE = 'Warning: this hub is served over plain HTTP, so your password and session cross the network unencrypted. Ask the administrators to enable HTTPS.';

export function plainHttpWarning(): string {
  return `<p id="http-warning" role="note" hidden style="background:#fff7e6;border:1px solid #f0c36d;padding:.5rem .75rem;border-radius:6px"></p>
      <script>
        (function () {
          if (window.location.protocol !== 'http:') return;
          var h = window.location.hostname;
          var local = h === 'localhost' || h === '[::1]' || h === '::1' || /^127\\./.test(h);
          var w = document.getElementById('http-warning');
          w.textContent = local ? ${JSON.stringify(LOCAL)} : ${JSON.stringify(REMOTE)};
          w.hidden = false;
        })();
      </script>`;
}
