// Loaded into a hub with `node --import` by restart.mjs --probe: writes the process's own memory
// breakdown (process.memoryUsage, V8 heap spaces and code statistics, /proc RssAnon/RssFile) to
// $ATRIUM_MEM_PROBE every second. For finding where memory goes; figures quoted as RSS come from
// runs without the probe (it costs a little memory itself).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const out = process.env.ATRIUM_MEM_PROBE;
// Experiment: one full GC N seconds after start (needs --expose-gc), to see what V8 keeps committed.
const gcAfter = Number(process.env.ATRIUM_PROBE_GC_AFTER_S ?? 0);
if (gcAfter && globalThis.gc) setTimeout(() => globalThis.gc(), gcAfter * 1000).unref();
const mb = (b) => +(b / 1048576).toFixed(2);
if (out) {
  setInterval(() => {
    const m = process.memoryUsage();
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (k) => mb(Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)[1]) * 1024);
    const h = v8.getHeapStatistics();
    const c = v8.getHeapCodeStatistics();
    writeFileSync(`${out}.tmp`, JSON.stringify({
      rss: mb(m.rss), rssAnon: kb('RssAnon'), rssFile: kb('RssFile'),
      heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers),
      malloced: mb(h.malloced_memory), peakMalloced: mb(h.peak_malloced_memory),
      code: mb(c.code_and_metadata_size), bytecode: mb(c.bytecode_and_metadata_size), scriptSource: mb(c.external_script_source_size),
      spaces: Object.fromEntries(v8.getHeapSpaceStatistics().filter((s) => s.physical_space_size).map((s) => [s.space_name, `${mb(s.space_used_size)}/${mb(s.physical_space_size)}`])),
    }));
    renameSync(`${out}.tmp`, out); // whole files only: the bench reads it at any moment
  }, 1000).unref();
}
