// A shop's callback endpoint for the browser tests: answers 200 to every POST and appends
// {method, url, headers, body} as one JSON line to the log file. Usage: node callback-receiver.mjs PORT LOGFILE
import http from 'node:http';
import fs from 'node:fs';

const [port, logFile] = process.argv.slice(2);
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    let body = null;
    try { body = JSON.parse(raw); } catch { body = raw; }
    fs.appendFileSync(logFile, JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }) + '\n');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
}).listen(Number(port), '127.0.0.1');
