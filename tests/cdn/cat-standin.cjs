// A CDN stand-in for CTA-5007 Common Access Tokens: serves the media folder under /media/
// after Eyevinn's @eyevinn/cat HttpValidator (the reference validator, not vodgate's code)
// has accepted the request's token (query `cat` or cookie `cta-common-access-token`).
//
//   node cat-standin.cjs <port> <media dir> <hex key> <kid> <issuer> <log file>
//
// Answers 200/206 with the file, 401 when the validator refuses (bad MAC, expired, wrong
// issuer, URI outside catu), 403 without a token. Each request is logged as
// "<status> <url>" to the log file.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { HttpValidator } = require('@eyevinn/cat');

const [port, mediaDir, hexKey, kid, issuer, logFile] = process.argv.slice(2);
const validator = new HttpValidator({
  keys: [{ kid, key: Buffer.from(hexKey, 'hex') }],
  issuer,
  autoRenewEnabled: false
});

function log(status, url) {
  fs.appendFileSync(logFile, `${status} ${url}\n`);
}

http
  .createServer(async (req, res) => {
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Headers', 'Range');
      res.writeHead(204).end();
      return;
    }
    // node-cat looks at the Cookie header before the query and stops there: keep only its
    // own cookie, as an edge that maps the token cookie to the validator would.
    const cookies = (req.headers.cookie || '')
      .split(';')
      .map((c) => c.trim())
      .filter((c) => c.toLowerCase().startsWith('cta-common-access-token='));
    if (cookies.length) req.headers.cookie = cookies.join('; ');
    else delete req.headers.cookie;
    let result;
    try {
      result = await validator.validateHttpRequest(req);
    } catch (e) {
      log(403, req.url);
      res.writeHead(403).end('no token');
      return;
    }
    if (result.status !== 200) {
      log(result.status, req.url);
      res.writeHead(result.status).end(result.message || 'refused');
      return;
    }
    const u = new URL(req.url, 'http://x');
    const rel = decodeURIComponent(u.pathname).replace(/^\/media\//, '');
    const file = path.join(mediaDir, rel);
    if (!u.pathname.startsWith('/media/') || rel.includes('..') || !fs.existsSync(file)) {
      log(404, req.url);
      res.writeHead(404).end();
      return;
    }
    const data = fs.readFileSync(file);
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    if (m) {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), data.length - 1) : data.length - 1;
      res.writeHead(206, {
        'Content-Range': `bytes ${start}-${end}/${data.length}`,
        'Content-Length': end - start + 1
      });
      res.end(data.subarray(start, end + 1));
      log(206, req.url);
      return;
    }
    res.writeHead(200, { 'Content-Length': data.length });
    res.end(data);
    log(200, req.url);
  })
  .listen(Number(port), '127.0.0.1');
