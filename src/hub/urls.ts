/** Where the hub and its API live; computed once at start (start.ts), read everywhere. */
export interface HubUrls {
  /** Deployment prefix, e.g. '/' (always ends with '/'). */
  base: string;
  /** '/hub/' under base. */
  hub: string;
  /** '/hub/api' under base (no trailing slash, as JUPYTERHUB_API_URL). */
  api: string;
  /** Where single-user servers reach the hub API, e.g. http://127.0.0.1:8081/hub/api. */
  apiForServers: string;
  /** Where the proxy forwards hub traffic (the hub route target), e.g. http://127.0.0.1:8081. */
  hubTarget: string;
  /** true when users reach us over https (Secure cookies). */
  secure: boolean;
}
