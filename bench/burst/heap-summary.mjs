// Where a V8 heap snapshot's memory is: self size summed by node type and constructor name, top N.
// Run: node bench/burst/heap-summary.mjs FILE.heapsnapshot [N]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
const snap = JSON.parse(readFileSync(file, 'utf8'));
const { node_fields: fields, node_types: [types] } = snap.snapshot.meta;
const width = fields.length;
const iType = fields.indexOf('type');
const iName = fields.indexOf('name');
const iSize = fields.indexOf('self_size');
const by = new Map();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + iType]];
  const size = snap.nodes[i + iSize];
  total += size;
  const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + iName]] : '';
  const key = `${type}${name ? ` ${name.slice(0, 60)}` : ''}`;
  const e = by.get(key) ?? { count: 0, size: 0 };
  e.count++;
  e.size += size;
  by.set(key, e);
}
const mb = (b) => (b / 1024 / 1024).toFixed(2);
console.log(`total self size ${mb(total)} MB in ${snap.nodes.length / width} nodes\n`);
console.log('| type / constructor | count | MB |\n|---|---|---|');
for (const [k, v] of [...by].sort((a, b) => b[1].size - a[1].size).slice(0, Number(topArg ?? 25))) console.log(`| ${k} | ${v.count} | ${mb(v.size)} |`);
