import type { Dispatcher } from 'undici';

/**
 * The controller a downstream handler holds for a request that may span several attempts: it
 * forwards to the current attempt's controller and carries a pause or an abort over to the next.
 */
export class SwitchingController implements Dispatcher.DispatchController {
  #target: Dispatcher.DispatchController | undefined;
  #paused = false;
  #aborted = false;
  #reason: Error | null = null;

  set target(controller: Dispatcher.DispatchController) {
    this.#target = controller;
    if (this.#aborted) controller.abort(this.#reason as Error);
    else if (this.#paused) controller.pause();
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#target?.abort(reason);
  }

  pause(): void {
    this.#paused = true;
    this.#target?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#target?.resume();
  }
}
