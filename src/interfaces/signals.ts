/** Resolves on the first Ctrl-C / SIGTERM: how every long-running command knows to stop. */
export const untilSignal = () =>
  new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
