// Integration: an error's own fields (a database error's detail, table, constraint) are in its
// dump, summarised and redacted like locals: what explains a failure is often there, not in the message.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot, killAll, ROOT } from '../helpers/cli.js';
import { dumpsIn } from '../helpers/dumps.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/temp.js';

afterEach(killAll);

describe('error fields in dumps', () => {
  it("shows a database error's detail, table and constraint, and redacts its secret-named fields", async () => {
    const dir = tempDir('fields');
    const s = await boot(['-d', '--inspect=off', '-b', 'tcp://127.0.0.1:0', join(ROOT, 'test/fixtures/apps/db-error-app.ts')], { TSPUMA_DUMP_DIR: dir });
    expect((await fetch(`${s.url}/?email=ann@example.test`)).status).toBe(500);
    const [dump] = await waitFor(() => (dumpsIn(dir).length === 1 ? dumpsIn(dir) : null), 'the dump');
    expect(dump!.error).toMatchObject({ name: 'DbError', code: '23505' });
    expect(dump!.error.fields).toMatchObject({ detail: 'Key (email)=(ann@example.test) already exists.', table: 'users', constraint: 'users_email_key', password: '[redacted]' });
    const text = readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.txt'))!), 'utf8');
    expect(text).toContain('  error fields: detail="Key (email)=(ann@example.test) already exists."  table="users"  constraint="users_email_key"  password="[redacted]"');
    for (const out of [text, JSON.stringify(dump), s.stderr()]) expect(out).not.toMatch(/PW-FIELD-4411|PW-ISSUE-5522/);
  });
});
