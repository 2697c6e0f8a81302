// call-context.ts follows a call into the ticks it queues by their async ids, read from node's
// async_wrap binding (process.binding('async_wrap'): undocumented, named in node-http.ts's header
// as the one place it is read). What the lookup assumes is pinned here by name, so a Node upgrade
// that changes one fails here first (CallContext then falls back to ticks of its own only where the
// binding is missing or its fields are not typed arrays, not where their meaning changed).
import { spawnSync } from 'node:child_process';
import { AsyncResource, executionAsyncId } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { asyncIds } from '../../diagnostics/call-context.js';
import { SLOWNESS } from '../helpers/net.js';

const a = asyncIds();
/** The running resource and the ids the lookup would read for it. */
function running(): { resource: unknown; id: number; trigger: number; depth: number } {
  const depth = a!.fields[a!.kStackLength]!;
  return { resource: a!.resources[depth - 1], id: a!.ids[a!.kExecutionAsyncId]!, trigger: a!.ids[a!.kTriggerAsyncId]!, depth };
}
const inTick = <R>(fn: () => R): Promise<R> => new Promise((resolve) => process.nextTick(() => resolve(fn())));

describe("node's async_wrap binding as call-context.ts reads it", () => {
  it('is there on this Node, and reading it prints no deprecation warning and leaves process.noDeprecation as it was', () => {
    expect(a).not.toBeNull();
    const script = `import('${new URL('../../dist/diagnostics/call-context.js', import.meta.url).href}').then((m) => { const ids = m.asyncIds(); console.log(ids !== null, process.noDeprecation === undefined); })`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 * SLOWNESS });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('true true');
  });

  it('numbers each tick from the counter as it is queued, and holds its id and its trigger (the work that queued it) while it runs', async () => {
    const outer = executionAsyncId();
    const before = a!.ids[a!.kAsyncIdCounter]!;
    const seen = await inTick(() => ({ ...running(), public: executionAsyncId() }));
    expect(seen.id).toBe(before + 1);
    expect(seen.public).toBe(seen.id);
    expect(seen.trigger).toBe(outer);
    expect(a!.ids[a!.kDefaultTriggerAsyncId]).toBe(-1);
  });

  it("keeps a running tick's queue entry, a plain object, innermost in the resource stack; a timer's is not plain", async () => {
    const tick = await new Promise<ReturnType<typeof running>>((resolve) => process.nextTick(function (this: unknown) {
      resolve(running());
    }));
    expect(tick.depth).toBeGreaterThan(0);
    expect((tick.resource as object).constructor).toBe(Object);
    expect(Object.keys(tick.resource as object).sort()).toEqual(['args', 'callback']);
    const timer = await new Promise<ReturnType<typeof running>>((resolve) => setTimeout(() => resolve(running()), 1));
    expect((timer.resource as object).constructor).not.toBe(Object);
  });

  it("saves a tick's ids in async_ids_stack under an AsyncResource scope run inside it, and the scope's resource is the AsyncResource", async () => {
    const r = await inTick(() => {
      const tickId = executionAsyncId();
      const scope = new AsyncResource('TSPUMA_PIN');
      return scope.runInAsyncScope(() => {
        const inner = running();
        const stack = a!.binding.async_ids_stack;
        return { tickId, inner, scope, saved: stack[2 * (inner.depth - 1)], under: a!.resources[inner.depth - 2] };
      });
    });
    expect(r.inner.resource).toBe(r.scope);
    expect(r.inner.id).toBe(r.scope.asyncId());
    expect(r.saved).toBe(r.tickId);
    expect((r.under as object).constructor).toBe(Object);
  });
});
