// How a script runs until it is told to stop: a duration, or Ctrl-C.

/**
 * Resolves after `seconds` (none: never), or at the first SIGINT or SIGTERM,
 * whichever comes first; its handlers and timer are gone when it resolves.
 * The timer is also what keeps node running: signal handlers alone do not.
 */
export function untilInterrupted(seconds?: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => stop(), seconds !== undefined ? seconds * 1000 : 2 ** 31 - 1);
    const stop = (): void => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
