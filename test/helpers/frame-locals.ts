// One frame as the inspector reports it, read by the dump's frame reader: for unit tests of what a
// dump shows of a local (its summary, its redaction), without a paused process.
import { FrameReader, type CallFrame, type PropertiesAnswer, type PropertyDescriptor } from '../../diagnostics/frames.js';
import { Redactor } from '../../diagnostics/redact.js';

/**
 * The locals a dump shows of one frame `f` in file:///srv/app.ts whose local scope holds `locals`;
 * `others` answers for any other object id (a function's own properties, say).
 */
export function readLocals(locals: PropertyDescriptor[], others: (objectId: string) => PropertiesAnswer = () => []): Record<string, unknown> {
  const frame: CallFrame = { functionName: 'f', url: 'file:///srv/app.ts', location: { scriptId: '1', lineNumber: 0, columnNumber: 0 }, scopeChain: [{ type: 'local', object: { type: 'object', objectId: 'l' } }], this: { type: 'undefined' } };
  const read = new FrameReader(new Redactor()).read([frame], { frames: 1, scripts: new Map([['1', { url: 'file:///srv/app.ts' }]]), properties: (id) => (id === 'l' ? locals : others(id)) });
  return read.frames[0]!.locals;
}
