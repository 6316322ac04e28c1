#!/usr/bin/env node
/**
 * The `brook` command. Each verb lives in its own file under ./commands and
 * registers itself on the program here; this file only sets up the global
 * options and the exit-code contract:
 *   0  success
 *   1  failure, with a one-line reason on stderr
 *   2  usage error (unknown verb or flag, bad flag value, bad configuration)
 */
import { Command, CommanderError, Option } from 'commander';
import { registerServe } from './commands/serve';
import { registerTopic } from './commands/topic';
import { registerProduce } from './commands/produce';
import { registerTail } from './commands/tail';
import { registerReplay } from './commands/replay';
import { registerGroup } from './commands/group';
import { configureVerb } from './context';
import { UsageError } from './usage-error';

export { UsageError };

/** Global options every verb can read with `command.optsWithGlobals()`. */
export interface GlobalOptions {
  addr: string;
  json: boolean;
}

export const DEFAULT_ADDR = '127.0.0.1:7070';

export function buildProgram(): Command {
  const program = new Command('brook')
    .description('Brook: a partitioned commit log served over gRPC')
    .addOption(new Option('--addr <host:port>', 'broker address').env('BROOK_ADDR').default(DEFAULT_ADDR))
    .option('--json', 'print data as JSON', false)
    .showHelpAfterError(false) // usage errors stay one line; `--help` shows the rest
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  registerServe(program);
  for (const register of [registerTopic, registerProduce, registerTail, registerReplay, registerGroup]) configureVerb(register(program));
  return program;
}

function oneLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0];
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  program.commands.forEach((command) => command.exitOverride());
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2; // commander has already printed the reason
    }
    process.stderr.write(`brook: ${oneLine(e)}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`brook: ${oneLine(e)}\n`);
      process.exitCode = 1;
    },
  );
}
