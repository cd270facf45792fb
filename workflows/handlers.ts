/**
 * The one helper for "a validated update and its lenient signal twin" (DESIGN.md "Shapes"): a person answers a gate
 * with the update (a wrong call is refused, and the caller sees why) or, from tools that cannot send updates, with the
 * signal of the same name (which cannot be refused: a wrong one is logged and dropped). Workflow code.
 */
import type { UpdateDefinition } from '@temporalio/common';
import { log, setHandler, type SignalDefinition } from '@temporalio/workflow';

/**
 * Installs `update` and `signal` over one validator and one handler.
 * @param check throws an Error naming the field, the value or the state when the call is wrong.
 * @param apply acts on a checked call; its result is the update's answer.
 */
export function onUpdateOrSignal<Arg, R>(update: UpdateDefinition<R, [Arg]>, signal: SignalDefinition<[Arg]>, check: (arg: Arg) => void, apply: (arg: Arg) => R): void {
  setHandler(update, apply, { validator: check });
  setHandler(signal, (arg) => {
    try {
      check(arg);
      apply(arg);
    } catch (err) {
      log.warn(`${signal.name} signal ignored: ${(err as Error).message}`);
    }
  });
}
