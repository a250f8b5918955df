import type { Clock } from "./clock.js";

/**
 * abortableDelay resolves after `ms` on `clock`, or rejects with the signal's
 * reason as soon as `signal` aborts (at once when it already has). The timer
 * comes from the clock, so it never keeps a Node process alive and a test
 * clock drives it.
 */
export function abortableDelay(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) {
    return Promise.reject(signal.reason);
  }
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * linkedAbortController returns a controller that aborts when `parent`
 * does (with the parent's reason), plus `dispose` to detach it from the
 * parent once the child's work is done, so long-lived parents collect no
 * listeners.
 */
export function linkedAbortController(parent: AbortSignal | undefined): { controller: AbortController; dispose(): void } {
  const controller = new AbortController();
  if (parent === undefined) {
    return { controller, dispose() {} };
  }
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { controller, dispose() {} };
  }
  const onAbort = () => controller.abort(parent.reason);
  parent.addEventListener("abort", onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener("abort", onAbort) };
}
