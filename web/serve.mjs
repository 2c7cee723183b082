#!/usr/bin/env node
// Static server for the demo and the browser tests: serves web/ with COOP/COEP/CORP headers so the
// page is cross-origin isolated (SharedArrayBuffer, wasm threads). `--no-isolation` leaves them out.
//   node serve.mjs [--port N] [--host H] [--root DIR] [--no-isolation]     (PORT env also works; 0 = any)
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.bmp': 'image/bmp', '.svg': 'image/svg+xml',
  '.gguf': 'application/octet-stream', '.ts': 'text/plain; charset=utf-8', '.md': 'text/plain; charset=utf-8',
};

/**
 * Starts the server. Resolves to {server, port, url, close()}.
 * @param {{root?: string, port?: number, host?: string, isolated?: boolean, mounts?: Record<string, string>, handler?: Function}} [opts]
 *   mounts: URL prefix ('/models/') -> directory, served before `root`;
 *   handler(req, res, headers): tests' hook, return true when it answered
 */
export function startServer(opts = {}) {
  const root = path.resolve(opts.root || path.dirname(fileURLToPath(import.meta.url)));
  const isolated = opts.isolated !== false;
  const host = opts.host || '127.0.0.1';
  const server = http.createServer((req, res) => {
    const headers = { 'Cache-Control': 'no-cache' };
    if (isolated) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    if (opts.handler && opts.handler(req, res, headers)) return;
    let rel;
    try { rel = decodeURIComponent(new URL(req.url, 'http://x').pathname); } catch { res.writeHead(400, headers).end(); return; }
    if (rel === '/') { res.writeHead(302, { ...headers, Location: '/demo/' }).end(); return; }
    let base = root;
    for (const [prefix, dir] of Object.entries(opts.mounts || {})) {
      if (rel.startsWith(prefix)) { base = path.resolve(dir); rel = '/' + rel.slice(prefix.length); break; }
    }
    let file = path.join(base, rel);
    if (!file.startsWith(base + path.sep) && file !== base) { res.writeHead(403, headers).end(); return; }
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        if (!rel.endsWith('/')) { res.writeHead(301, { ...headers, Location: rel + '/' }).end(); return; }
        file = path.join(file, 'index.html');
        try { st = fs.statSync(file); } catch (e) { err = e; }
      }
      if (err || !st.isFile()) { res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found'); return; }
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file).toLowerCase()] || 'application/octet-stream', 'Content-Length': st.size });
      if (req.method === 'HEAD') { res.end(); return; }
      fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, host, () => {
      const port = server.address().port;
      const url = `http://${host}:${port}/`;
      resolve({ server, port, url, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }) });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const get = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const port = Number(get('--port') ?? process.env.PORT ?? 8080);
  const isolated = !args.includes('--no-isolation');
  const { url } = await startServer({ port, host: get('--host'), root: get('--root'), isolated });
  console.log(`mblip demo: ${url}demo/  (${isolated ? 'cross-origin isolated: threads' : 'NOT isolated: single thread'})`);
}
