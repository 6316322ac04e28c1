/**
 * What every script under scripts/ needs: `--name value` flags, and taking
 * the brokers it started down with it on Ctrl-C or SIGTERM.
 */
import { stopAllBrokers } from '../test/helpers/broker';

/** The value after `name` on the command line, or undefined when absent. */
export function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** A positive-integer flag, `fallback` when absent; throws naming the flag otherwise. */
export function positiveIntegerFlag(name: string, fallback: number): number {
  const given = flag(name);
  const value = given === undefined ? fallback : Number(given);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${given}`);
  return value;
}

/** Ctrl-C or SIGTERM: stop the brokers this process started, then exit 130 (exit handlers do not run on a signal). */
export function stopBrokersOnSignal(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void stopAllBrokers().finally(() => process.exit(130));
    });
  }
}
