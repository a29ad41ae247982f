/**
 * Target choice: the writer is what the servers say (not what was
 * registered), kept while it stays one; readers are the standbys, least
 * loaded first and rotated on ties; and what happens while none is there.
 */
import { describe, expect, it } from 'vitest';
import { chooseReader, chooseWriter, reportedRole, TargetChooser, type ObservedRole, type TargetView } from './target-choice.js';

const view = (instanceId: string, observed: ObservedRole, registeredRole: TargetView['registeredRole'] = 'READ_ONLY'): TargetView => ({ instanceId, registeredRole, observed });

describe('chooseWriter', () => {
  it('takes the target seen out of recovery, whatever was registered', () => {
    expect(chooseWriter([view('a', 'reader', 'READ_WRITE'), view('b', 'writer')], undefined)).toEqual({ kind: 'target', instanceId: 'b' });
  });

  it('uses the registered writer while no role is known yet', () => {
    expect(chooseWriter([view('b', 'unknown'), view('a', 'unknown', 'READ_WRITE')], undefined)).toEqual({ kind: 'target', instanceId: 'a' });
    expect(chooseWriter([view('a', 'unknown', 'READ_WRITE')], 'a')).toEqual({ kind: 'target', instanceId: 'a' });
  });

  it('waits during a failover: the writer down and the standby not promoted yet', () => {
    expect(chooseWriter([view('a', 'down', 'READ_WRITE'), view('b', 'reader')], 'a')).toEqual({ kind: 'wait' });
    expect(chooseWriter([view('a', 'unknown', 'READ_WRITE'), view('b', 'reader')], 'a')).toEqual({ kind: 'wait' });
  });

  it('keeps the writer in use when an old primary comes back out of recovery', () => {
    const both = [view('a', 'writer', 'READ_WRITE'), view('b', 'writer')];
    expect(chooseWriter(both, 'b')).toEqual({ kind: 'target', instanceId: 'b' });
    // Without one in use, the registered writer is preferred, then registration order.
    expect(chooseWriter(both, undefined)).toEqual({ kind: 'target', instanceId: 'a' });
    expect(chooseWriter([view('c', 'writer'), view('b', 'writer')], 'gone')).toEqual({ kind: 'target', instanceId: 'c' });
  });

  it('has nothing for an empty target group', () => {
    expect(chooseWriter([], undefined)).toEqual({ kind: 'none', reason: 'NoTargets' });
  });
});

describe('chooseReader', () => {
  const group = [view('w', 'writer', 'READ_WRITE'), view('r1', 'reader'), view('r2', 'reader'), view('r3', 'down')];

  it('takes the standby with the fewest of the pool’s connections', () => {
    expect(chooseReader(group, new Map([['r1', 3], ['r2', 1]]), 0)).toEqual({ kind: 'target', instanceId: 'r2' });
    expect(chooseReader(group, new Map([['r1', 0], ['r2', 1], ['w', 0]]), 7)).toEqual({ kind: 'target', instanceId: 'r1' });
  });

  it('rotates over equally loaded standbys and never picks the writer or a target that is down', () => {
    const picks = [0, 1, 2, 3].map((turn) => chooseReader(group, new Map(), turn));
    expect(picks.map((p) => (p.kind === 'target' ? p.instanceId : p.kind))).toEqual(['r1', 'r2', 'r1', 'r2']);
  });

  it('fails at once with no reader registered, and waits when readers exist but none is available', () => {
    expect(chooseReader([view('w', 'writer', 'READ_WRITE')], new Map(), 0)).toEqual({ kind: 'none', reason: 'NoReaders' });
    expect(chooseReader([], new Map(), 0)).toEqual({ kind: 'none', reason: 'NoTargets' });
    expect(chooseReader([view('w', 'writer', 'READ_WRITE'), view('r', 'down')], new Map(), 0)).toEqual({ kind: 'wait' });
    // A standby promoted is a writer: no longer a reader.
    expect(chooseReader([view('a', 'down', 'READ_WRITE'), view('b', 'writer')], new Map(), 0)).toEqual({ kind: 'wait' });
  });
});

describe('reportedRole', () => {
  it('reports what was seen, the registered role before anything is seen, UNKNOWN for the unseen during a failover', () => {
    const before = [view('a', 'unknown', 'READ_WRITE'), view('b', 'unknown')];
    expect(before.map((t) => reportedRole(t, before))).toEqual(['READ_WRITE', 'READ_ONLY']);
    const after = [view('a', 'down', 'READ_WRITE'), view('b', 'writer')];
    expect(after.map((t) => reportedRole(t, after))).toEqual(['UNKNOWN', 'READ_WRITE']);
    const normal = [view('a', 'writer', 'READ_WRITE'), view('b', 'reader')];
    expect(normal.map((t) => reportedRole(t, normal))).toEqual(['READ_WRITE', 'READ_ONLY']);
  });
});

describe('TargetChooser', () => {
  it('follows a promotion and keeps the new writer when the old one returns', () => {
    const seen = new Map<string, ObservedRole>([['a', 'writer'], ['b', 'reader']]);
    const chooser = new TargetChooser({ roleOf: (_p, id) => seen.get(id) ?? 'unknown', recheck: () => undefined });
    const targets = [{ instanceId: 'a', role: 'READ_WRITE' as const }, { instanceId: 'b', role: 'READ_ONLY' as const }];
    expect(chooser.decide('prx-1', targets, 'READ_WRITE')).toEqual({ kind: 'target', instanceId: 'a' });
    expect(chooser.decide('prx-1', targets, 'READ_ONLY')).toEqual({ kind: 'target', instanceId: 'b' });
    seen.set('a', 'down');
    expect(chooser.decide('prx-1', targets, 'READ_WRITE')).toEqual({ kind: 'wait' });
    seen.set('b', 'writer');
    expect(chooser.decide('prx-1', targets, 'READ_WRITE')).toEqual({ kind: 'target', instanceId: 'b' });
    // The old primary restarted without being demoted: the writes stay where they went.
    seen.set('a', 'writer');
    expect(chooser.decide('prx-1', targets, 'READ_WRITE')).toEqual({ kind: 'target', instanceId: 'b' });
    // Another proxy keeps its own memory.
    expect(chooser.decide('prx-2', targets, 'READ_WRITE')).toEqual({ kind: 'target', instanceId: 'a' });
  });
});
