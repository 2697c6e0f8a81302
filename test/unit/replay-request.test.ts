// What `tspuma replay` sends: a request it cannot restore (its body, or part of its URL, redacted
// or never captured) is not sent as a different request, which the app would run with other
// values; --body, --path and --header give back what the dump could not keep; --force sends it anyway.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Dump } from '../../diagnostics/model.js';
import { replay, replayTarget, replayedRequest } from '../../server/cli/replay.js';
import { fixtureDump } from '../helpers/dump-fixture.js';
import { tcpServers } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

function chargeDump(body: { type: 'json'; text: string } | null, url = '/api/users/2/charge?token=[redacted]&page=3'): Dump {
  return {
    ...fixtureDump('exception', 'src/repo.ts:10'),
    request: {
      id: 'req-1', remote: '127.0.0.1', method: 'POST', url,
      headers: { host: '127.0.0.1:9292', 'content-type': 'application/json', 'content-length': '71', authorization: '[redacted]' },
      ...(body ? { body } : {}),
    },
  } as Dump;
}
const REDACTED_BODY = { type: 'json' as const, text: '{"amountCents":900000,"cardNumber":"[redacted]","note":"gift"}' };

describe('replayedRequest', () => {
  it('names a redacted body and URL as changing the request, a redacted header as only missing', () => {
    const r = replayedRequest(chargeDump(REDACTED_BODY), 'replay-1');
    expect(r.changed).toEqual([
      'part of the URL (redacted in the dump: /api/users/2/charge?token=[redacted]&page=3); give the path and query to send with --path',
      'the body (a value in it was redacted in the dump); give the body to send with --body FILE',
    ]);
    expect(r.missing).toEqual(["header authorization (redacted in the dump; give it with --header 'authorization: VALUE')"]);
    // Were it sent (--force), it would not claim a JSON body it does not have.
    expect(r.body).toBeNull();
    expect(r.headers['content-type']).toBeUndefined();
  });

  it('a body the framework never parsed is named too', () => {
    expect(replayedRequest(chargeDump(null, '/api/users/2/charge'), 'replay-1').changed).toEqual([
      "the body (71 bytes; the app's framework had not parsed it into req.body, so the dump has none); give it with --body FILE",
    ]);
  });

  it('--body, --path and --header restore what the dump could not keep', () => {
    const r = replayedRequest(chargeDump(REDACTED_BODY), 'replay-1', { body: '{"amountCents":5}', path: '/api/users/2/charge?token=t&page=3', headers: { Authorization: 'Bearer x' } });
    expect(r).toMatchObject({ changed: [], missing: [], body: '{"amountCents":5}', path: '/api/users/2/charge?token=t&page=3' });
    expect(r.headers).toMatchObject({ authorization: 'Bearer x', 'content-type': 'application/json', 'x-request-id': 'replay-1' });
  });

  it('a fully kept request is sent as it was', () => {
    const r = replayedRequest(chargeDump({ type: 'json', text: '{"amountCents":5}' }, '/api/users/2/charge'), 'replay-1');
    expect(r).toMatchObject({ changed: [], body: '{"amountCents":5}', path: '/api/users/2/charge' });
  });
});

describe('tspuma replay', () => {
  it('refuses with TSPUMA_ERR_REPLAY, before setting a probe or sending anything, a request it cannot restore', async () => {
    const file = join(tempDir('replay'), 'dump.json');
    writeFileSync(file, JSON.stringify(chargeDump(REDACTED_BODY)));
    const err: string[] = [];
    // Port 1: nothing listens, so a request sent or a probe set would fail with another error.
    await expect(replay([file, '--control-url', 'tcp://127.0.0.1:1', '--control-token', 'replay-token-0123456789', '--url', 'http://127.0.0.1:1'], { out: () => undefined, err: (t) => void err.push(t) })).rejects.toMatchObject({
      code: 'TSPUMA_ERR_REPLAY',
      message: expect.stringContaining('Without it, POST /api/users/2/charge?token=[redacted]&page=3 would be another request, which the app would run with other values; --force sends it anyway'),
    });
  });

  it("sends to --url, else to the server's first HTTP bind from its state file (a wildcard as loopback), never to the dump's Host", async () => {
    expect(replayTarget('http://127.0.0.1:9000', ['http://127.0.0.1:1'], 'shop.example.com').href).toBe('http://127.0.0.1:9000/');
    expect(replayTarget(undefined, ['unix:///tmp/a.sock', 'http://0.0.0.0:9292'], 'shop.example.com').href).toBe('http://127.0.0.1:9292/');
    expect(replayTarget(undefined, ['http://[::]:9292'], undefined).host).toBe('[::1]:9292');
    expect(() => replayTarget(undefined, undefined, '127.0.0.1:6379')).toThrow(/names no HTTP bind .* the dump's Host \("127\.0\.0\.1:6379"\) is not used \(a client chose it\): give --url/);
    expect(() => replayTarget(undefined, ['unix:///tmp/a.sock'], 'shop.example.com')).toThrow(/\(it serves unix:\/\/\/tmp\/a\.sock\)/);
    // The whole command: a dump whose Host names another service, a state file without binds:
    // refused before a probe is set or anything sent.
    const dir = tempDir('replay');
    const file = join(dir, 'dump.json');
    const dump = chargeDump(REDACTED_BODY);
    writeFileSync(file, JSON.stringify({ ...dump, request: { ...dump.request, headers: { ...dump.request!.headers, host: '127.0.0.1:6379' } } }));
    await expect(replay([file, '--force', '--control-url', 'tcp://127.0.0.1:1', '--control-token', 'replay-token-0123456789'], { out: () => undefined, err: () => undefined })).rejects.toMatchObject({ code: 'TSPUMA_ERR_CLI_USAGE', message: expect.stringContaining('is not used') });
  });
});

describe('tspuma replay: an app that never answers', () => {
  const tcp = tcpServers();
  const controls: http.Server[] = [];
  afterEach(() => {
    tcp.closeAll();
    for (const c of controls.splice(0)) c.close();
  });

  it('says how long it waited, that the bound was --for\'s, and how to wait longer', async () => {
    // A control app that sets the probe, reports no hit, and removes it.
    const control = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST') res.writeHead(201).end(JSON.stringify({ id: 1 }));
      else res.end(JSON.stringify({ id: 1, pausedIn: [], snapshots: [] }));
    });
    controls.push(control);
    await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
    const app = await tcp.serve(() => undefined);
    const dir = tempDir('replay');
    const file = join(dir, 'dump.json');
    writeFileSync(file, JSON.stringify({ ...fixtureDump('exception', 'src/repo.ts:10'), request: { id: 'req-1', remote: '127.0.0.1', method: 'GET', url: '/orders', headers: { host: 'shop.example.com' } } }));
    const err: string[] = [];
    const rc = await replay([file, '--for', '1s', '--url', `http://127.0.0.1:${app}`, '--control-url', `tcp://127.0.0.1:${(control.address() as AddressInfo).port}`, '--control-token', 'replay-token-0123456789'], { out: () => undefined, err: (t) => void err.push(t) });
    expect(rc).toBe(1);
    expect(err.at(-1)).toBe('tspuma replay: no answer within 1 s (from --for; a longer one waits longer)\n');
  });
});
