/**
 * Structured JSON logs (pino) on stdout, one object per line. Tools (and the
 * integration-test helper) find the bound addresses in the line whose `msg`
 * is "listening".
 */
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, service: 'brook' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
