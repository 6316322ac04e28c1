/**
 * What every data verb needs: the global flags and a connection to the
 * broker, closed however the verb ends, and BrookErrors turned into the
 * one-line reason `brook` prints.
 */
import type { Command } from 'commander';
import { Connection, describeError, BrookError } from '../client';
import { UsageError } from './usage-error';

export interface Globals {
  addr: string;
  json: boolean;
}

export function globals(command: Command): Globals {
  const o = command.optsWithGlobals() as { addr?: string; json?: boolean };
  return { addr: o.addr ?? process.env.BROOK_ADDR ?? '127.0.0.1:7070', json: o.json === true };
}

export function connect(command: Command): Connection {
  const { addr } = globals(command);
  try {
    return new Connection({ addr });
  } catch (e) {
    if (e instanceof BrookError && e.code === 'INVALID_ARGUMENT') throw new UsageError(`--addr ${e.message.replace(/^invalid option addr: /, '')}`);
    throw e;
  }
}

/** Runs `body` with a connection, closing it afterwards; errors leave as one line. */
export async function withConnection<T>(command: Command, body: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = connect(command);
  try {
    return await body(connection);
  } catch (e) {
    if (e instanceof BrookError) throw new Error(describeError(e));
    throw e;
  } finally {
    connection.close();
  }
}

/** Settings every verb of ours shares: one-line usage errors, exit codes handled by main. */
export function configureVerb(command: Command): Command {
  command.exitOverride().showHelpAfterError(false);
  for (const sub of command.commands) configureVerb(sub);
  return command;
}
