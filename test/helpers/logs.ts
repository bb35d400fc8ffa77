import { createLogger, type Logger } from '../../src/infrastructure/logging';

/** A process logger (same options as production, JSON format) whose lines a test can read. */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    { LOG_LEVEL: 'info', LOG_FORMAT: 'json' },
    { write: (line: string) => void lines.push(JSON.parse(line)) },
  );
  return { logger, lines };
}

export const silentLogger = (): Logger => memoryLogger().logger.child({}, { level: 'silent' });
