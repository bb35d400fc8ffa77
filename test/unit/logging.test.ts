import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, sdkLogger } from '../../src/infrastructure/logging';
import { memoryLogger } from '../helpers/logs';

describe('the process logger', () => {
  it('redacts secret-named fields at the top level and nested, and keeps the rest', () => {
    const { logger, lines } = memoryLogger();
    logger.info(
      {
        apiKey: 'k1',
        token: 't1',
        'x-api-key': 'k2',
        leaseUuid: 'kept',
        req: { headers: { authorization: 'Bearer t2', 'x-api-key': 'k3', accept: 'kept' } },
        config: { WEBHOOK_API_KEY: 'k4', PAYLOAD_ENCRYPTION_KEYS: 'k5', ISB_JWT_SECRET: 's1' },
        credentials: { secretAccessKey: 's2', sessionToken: 't3' },
      },
      'hello',
    );
    const text = JSON.stringify(lines);
    for (const secret of ['k1', 'k2', 'k3', 'k4', 'k5', 't1', 't2', 't3', 's1', 's2'])
      expect(text).not.toContain(`"${secret}"`);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'hello',
      leaseUuid: 'kept',
      apiKey: '[redacted]',
      req: { headers: { accept: 'kept', authorization: '[redacted]' } },
    });
    expect(new Date(String(lines[0]!.time)).toISOString()).toBe(lines[0]!.time);
  });

  it('bridges the Temporal SDK Logger: levels as words, metadata as fields, no timestamp symbol or task token', () => {
    const { logger, lines } = memoryLogger();
    const sdk = sdkLogger(logger);
    sdk.log('WARN', 'from core', {
      [Symbol.for('log_timestamp')]: 1n,
      sdkComponent: 'core',
      taskToken: 'opaque',
    } as never);
    sdk.info('activity', { workflowId: 'wf-1', error: new Error('boom') });
    sdk.debug('below the level');
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'from core'],
      ['info', 'activity'],
    ]);
    expect(lines[0]).not.toHaveProperty('taskToken');
    expect(lines[1]).toMatchObject({ workflowId: 'wf-1', error: { type: 'Error', message: 'boom' } });
  });

  it('LOG_FORMAT=pretty prints readable lines, still redacted', () => {
    const out: string[] = [];
    const sink = new Writable({
      write: (chunk, _encoding, done) => {
        out.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ LOG_LEVEL: 'info', LOG_FORMAT: 'pretty' }, sink);
    logger.info({ leaseUuid: 'abc', apiKey: 'k-secret' }, 'Report written');
    const text = out.join('');
    expect(text).toMatch(/INFO.*Report written/);
    expect(text).toContain('leaseUuid: "abc"');
    expect(text).not.toContain('k-secret');
    expect(() => JSON.parse(text)).toThrow();
  });
});
