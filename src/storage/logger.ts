/** The logging seam: pino-compatible `(object, message)` calls; silent by default. */
export interface StorageLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const noop = (): void => undefined;

export const silentLogger: StorageLogger = Object.freeze({ info: noop, warn: noop, error: noop });
