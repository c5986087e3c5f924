// The size budget of docs/widget.md: widget + client at most 12 KB minified + gzip.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export const BUDGET = 12 * 1024;

/** Bytes of the files as shipped and after gzip -9, as a CDN or server would send them. */
export function measure(files) {
  const raw = Buffer.concat(files.map((f) => fs.readFileSync(f)));
  return { minified: raw.length, gzip: zlib.gzipSync(raw, { level: 9 }).length };
}

/** An ES module entry of dist and the chunks it imports. */
export function moduleFiles(dist, entry) {
  const seen = new Set();
  const walk = (f) => {
    if (seen.has(f)) {
      return;
    }
    seen.add(f);
    const src = fs.readFileSync(f, 'utf8');
    for (const m of src.matchAll(/from\s*"(\.\/[^"]+)"/g)) {
      walk(path.join(path.dirname(f), m[1]));
    }
  };
  walk(path.join(dist, entry));
  return [...seen];
}
