// Integration (single mode, no -d): probes on Hono and Express apps written as users write them.
// A one-line route's handler is on the line of the app.get(…) call that ran once at load: the
// probe stops in the handler, at every request. FILE:LINE:COLUMN picks the place on a line. A
// template reads the request through the framework's accessors (Hono's c.req.param(), Express's
// req.get(), req.ip), which cache what they read; a call that really writes is still refused: at the
// prompt, or at the hit by the class of the object it is called on.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProbeView } from '../../server/cluster/probe-registry.js';
import { boot, killAll, ROOT, type Booted } from '../helpers/cli.js';
import { lineOf } from '../helpers/dumps.js';
import { SLOWNESS, waitFor } from '../helpers/net.js';
import { answeredView } from '../helpers/probe-answered.js';
import { tempDir } from '../helpers/temp.js';

const HONO = 'test/fixtures/apps/one-line-routes-hono.ts';
const EXPRESS = 'test/fixtures/apps/one-line-routes-express.ts';
const FETCH = 'test/fixtures/apps/probe-fetch-app.ts';

afterAll(killAll);

type Answer = { status: number; body: ProbeView & { code?: string; error?: string } };
/** A logpoint set through the control app's POST /probes, what `tspuma probe log` sends (the CLI's own path is probes.test's and single-control.test's: a process each costs about 50 ms of CPU). */
type SetProbe = (location: string, template: string, extra?: { hits?: number }) => Promise<Answer>;

async function start(app: string): Promise<{ s: Booted; set: SetProbe; rm: (id: number) => Promise<void> }> {
  const state = join(tempDir('one-line'), 'tspuma.state');
  // The pause budget at its most: on a loaded machine one pause can outlast 200 ms of wall time,
  // and a probe suspended by it is not what these tests are about (a full run at load 27 once saw
  // no hit of the Express probe within 80 s).
  const config = join(state, '..', 'tspuma.config.mjs');
  writeFileSync(config, 'export default { probePauseBudget: 1000 };\n');
  const s = await boot(['-C', config, '-w', '0', '-b', 'tcp://127.0.0.1:0', '--control-url', 'tcp://127.0.0.1:0', '-S', state, app]);
  const { control_url: url, control_auth_token: token } = JSON.parse(readFileSync(state, 'utf8')) as { control_url: string; control_auth_token: string };
  const control = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${url.replace(/^tcp:/, 'http:')}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) as Answer['body'] };
  };
  // A set answers once worker 0 has armed the probe (test/helpers/probe-answered.ts): its note and the route's request after.
  const set: SetProbe = async (location, template, extra = {}) => {
    const answer = await control('POST', '/probes', { kind: 'log', location, template, ...extra, by: 'the test' });
    return answer.status !== 201 ? answer : { status: 201, body: await answeredView(async () => (await control('GET', `/probes/${answer.body.id}`)).body) };
  };
  const rm = async (id: number) => expect((await control('DELETE', `/probes/${id}`)).status).toBe(200);
  return { s, set, rm };
}

/** The id of a probe set (201), or a failure quoting the answer; worker 0's note on where it armed it (what the CLI prints). */
function setOk(answer: Answer): { id: number; note: string } {
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return { id: answer.body.id, note: answer.body.workers['0']?.note ?? '' };
}

/** The first hit line of probe `id`; on a timeout, the error quotes the server's lines about that probe (and hits it could not handle). */
async function hitOf(s: Booted, id: number): Promise<Record<string, unknown>> {
  try {
    return await waitFor(() => s.lines().find((l) => l.probe === id && typeof l.values === 'object'), `a hit of probe ${id}`, 20_000);
  } catch (err) {
    const about = s.lines().filter((l) => l.probe === id || String(l.code ?? '').startsWith('TSPUMA_ERR_PROBE') || String(l.msg).startsWith('Probe hit could not be handled'));
    throw new Error(`${(err as Error).message}; the server's lines about it: ${JSON.stringify(about).slice(0, 2000)}`);
  }
}

describe('probes on one-line routes', () => {
  it('Hono: a probe on a one-line route stops in its handler at each request and reads c.req.param(), query, url, path and a header; a column picks the place; a real write is still refused', async () => {
    const { s, set } = await start(HONO);
    const jsonLine = lineOf(HONO, "app.get('/json/:name'");
    const { id, note } = setOk(await set(`${HONO}:${jsonLine}`, 'name={c.req.param("name")} url={c.req.url} path={c.req.path} ua={c.req.header("x-probe-ua")}'));
    expect(note).toMatch(/in the function the line holds \(column \d+\)/);
    expect((await fetch(`${s.url}/json/zed`, { headers: { 'x-probe-ua': 'probe-agent' } })).status).toBe(200);
    expect((await hitOf(s, id)).values).toEqual({ 'c.req.param("name")': 'zed', 'c.req.url': `${s.url}/json/zed`, 'c.req.path': '/json/zed', 'c.req.header("x-probe-ua")': 'probe-agent' });

    const searchLine = lineOf(HONO, "app.get('/search'");
    const column = readLine(HONO, searchLine).indexOf('c.text(') + 1;
    const { id: id2 } = setOk(await set(`${HONO}:${searchLine}:${column}`, 'q={c.req.query("q")}'));
    expect(await (await fetch(`${s.url}/search?q=hat`)).text()).toBe('found hat');
    expect((await hitOf(s, id2)).values).toEqual({ 'c.req.query("q")': 'hat' });

    // A one-line route with a block body is one function: one hit per request, so --hits 2 lasts
    // two requests (M6: its statement's end was taken for a second function, two hits a request).
    const blockLine = lineOf(HONO, "app.get('/q/:n'");
    const block = setOk(await set(`${HONO}:${blockLine}`, 'n={c.req.param("n")}', { hits: 2 }));
    expect(block.note).toMatch(/in the function the line holds \(column \d+\)/);
    const blockId = block.id;
    expect(await (await fetch(`${s.url}/q/2`)).text()).toBe('q 2');
    await hitOf(s, blockId);
    expect(await (await fetch(`${s.url}/q/3`)).text()).toBe('q 3');
    await waitFor(() => s.lines().some((l) => l.probe === blockId && (l.values as Record<string, unknown> | undefined)?.['c.req.param("n")'] === '3'), 'the hit of the second request');

    // A call that writes is refused at the prompt, as in a --when (T12.10): nothing is set.
    const writes = await set(`${HONO}:${jsonLine}`, 'set={c.set("k", 1)}');
    expect([writes.status, writes.body.code]).toEqual([400, 'TSPUMA_ERR_PROBE_INVALID']);
    expect(writes.body.error).toContain('Probe template expression `c.set("k", 1)`');
    expect(writes.body.error).toContain('it calls set(), which may write (column 3)');
  }, 60_000 * SLOWNESS);

  it('Express 5: a probe on a one-line route stops in its handler and reads req.params, req.get(), req.ip and req.hostname', async () => {
    const { s, set, rm } = await start(EXPRESS);
    const line = lineOf(EXPRESS, "app.get('/hi/:id'");
    const { id } = setOk(await set(`${EXPRESS}:${line}`, 'id={req.params.id} ua={req.get("x-probe-ua")} ip={req.ip} host={req.hostname}'));
    expect(await (await fetch(`${s.url}/hi/7`, { headers: { 'x-probe-ua': 'probe-agent' } })).text()).toBe('hi 7');
    expect((await hitOf(s, id)).values).toEqual({ 'req.params.id': '7', 'req.get("x-probe-ua")': 'probe-agent', 'req.ip': '127.0.0.1', 'req.hostname': '127.0.0.1' });

    // A secret read through an accessor's argument or a quoted key is redacted by that name, as
    // `req.query.token` is: nothing of it in any line.
    await rm(id);
    const { id: sid } = setOk(await set(`${EXPRESS}:${line}`, 'k={req.get("x-api-key")} t={req.query["token"]} a={req.header(\'authorization\')} q={req.query.q}'));
    const res = await fetch(`${s.url}/hi/8?token=Tok-77bb&q=hat`, { headers: { 'x-api-key': 'Key-9988', authorization: 'Bearer Abc-3141' } });
    expect(await res.text()).toBe('hi 8');
    expect((await hitOf(s, sid)).values).toEqual({ 'req.get("x-api-key")': '[redacted]', 'req.query["token"]': '[redacted]', "req.header('authorization')": '[redacted]', 'req.query.q': 'hat' });
    for (const leaked of ['Tok-77bb', 'Key-9988', 'Abc-3141']) expect(s.stdout() + s.stderr()).not.toContain(leaked);

    // A local that holds the request's secret header, shown alone (no header in the template): the
    // request's secrets are known before the template's values are shown (S1).
    const authLine = lineOf(EXPRESS, 'res.send(presented');
    const { id: lid } = setOk(await set(`${EXPRESS}:${authLine}`, 'key={presented} len={presented.length} sess={sess}'));
    const cookie = 'theme=dark; shop_session=s%3AQx7bV2kLp9ZrT4mN8wY1.aBcDeFgHiJkLmNoP; lang=en';
    expect(await (await fetch(`${s.url}/auth`, { headers: { 'x-api-key': 'pro-abc12345xyz', cookie } })).text()).toBe('pro');
    expect((await hitOf(s, lid)).values).toEqual({ presented: '[redacted]', 'presented.length': 15, sess: '[redacted]' });
    expect(s.stdout() + s.stderr()).not.toContain('12345xyz');
    expect(s.stdout() + s.stderr()).not.toContain('Qx7bV2kLp9ZrT4mN8wY1');

    // A variable named `request` that is not an HTTP request (a SQL client's) gets no pass around
    // V8's side-effect check: its query() is refused, and never runs. SQL text is refused at the
    // prompt (T12.10); a name-like argument gets there, and the class check refuses it at the hit.
    const dbLine = lineOf(EXPRESS, 'res.send(`writes');
    const sqlText = await set(`${EXPRESS}:${dbLine}`, 'q={request.query("DELETE FROM orders")}');
    expect([sqlText.status, sqlText.body.code]).toEqual([400, 'TSPUMA_ERR_PROBE_INVALID']);
    expect(sqlText.body.error).toContain('it calls query() with "DELETE FROM orders" (column 9), which names no field of a request');
    const { id: sqlId } = setOk(await set(`${EXPRESS}:${dbLine}`, 'q={request.query("orders")}'));
    expect(await (await fetch(`${s.url}/db`)).text()).toBe('writes 0 object');
    const refused = await waitFor(() => s.lines().find((l) => l.probe === sqlId && l.code === 'TSPUMA_ERR_PROBE_SIDE_EFFECT'), 'the writing probe removed');
    expect(String(refused.msg)).toContain('request.query("orders")');
    expect(await (await fetch(`${s.url}/db`)).text()).toBe('writes 0 object');

    // The request under another name (`_req`, as a route that does not use it names it): read by
    // its class, as `req` is (M5.3), on the same line where `request` was refused.
    const { id: namedId } = setOk(await set(`${EXPRESS}:${dbLine}`, 'ua={_req.get("x-probe-ua")} ip={_req.ip}'));
    expect(await (await fetch(`${s.url}/db`, { headers: { 'x-probe-ua': 'under-score' } })).text()).toBe('writes 0 object');
    expect((await hitOf(s, namedId)).values).toEqual({ '_req.get("x-probe-ua")': 'under-score', '_req.ip': '127.0.0.1' });
  }, 60_000 * SLOWNESS);
});

describe('probes on a fetch handler', () => {
  it("reads the query through a URL's searchParams (get, has) and its getters, as a request's accessors are read (M2)", async () => {
    const { s, set } = await start(FETCH);
    const line = lineOf(FETCH, 'return new Response(');
    const { id } = setOk(await set(`${FETCH}:${line}`, 'page={url.searchParams.get("page")} has={url.searchParams.has("q")} s={url.search}'));
    expect(await (await fetch(`${s.url}/ok?page=2`)).text()).toBe('page 2\n');
    expect((await hitOf(s, id)).values).toEqual({ 'url.searchParams.get("page")': '2', 'url.searchParams.has("q")': false, 'url.search': '?page=2' });
  }, 60_000 * SLOWNESS);
});

function readLine(file: string, line: number): string {
  return readFileSync(join(ROOT, file), 'utf8').split('\n')[line - 1]!;
}
