import { constants } from "node:os";

/** The signals that ask a foreground command to stop: Ctrl-C, kill, a closed terminal. */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** What a shell reports for a command that ended because of signal N: 128 + N (130, 143, 129). */
export const signalExitCode = (signal: NodeJS.Signals): number => 128 + constants.signals[signal];

export interface StopRequest {
  /** The first stop signal received, or null. */
  readonly signal: () => StopSignal | null;
  /** Resolves with the first stop signal. */
  readonly received: Promise<StopSignal>;
  /** Stops listening: a signal after this gets Node's default (the process dies by it). */
  readonly dispose: () => void;
}

/**
 * Listens for stop signals for as long as a command must finish what it started (stop its
 * agents, remove its temp dir) before it exits, so that a signal never cuts that short.
 * `onSignal` runs once, on the first.
 */
export function listenForStop(onSignal: (signal: StopSignal) => void = () => undefined): StopRequest {
  let first: StopSignal | null = null;
  let resolve: (signal: StopSignal) => void = () => undefined;
  const received = new Promise<StopSignal>((r) => (resolve = r));
  const handlers = STOP_SIGNALS.map((signal) => {
    const handler = (): void => {
      if (first !== null) return;
      first = signal;
      onSignal(signal);
      resolve(signal);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return {
    signal: () => first,
    received,
    dispose: () => {
      for (const [signal, handler] of handlers) process.removeListener(signal, handler);
    },
  };
}
