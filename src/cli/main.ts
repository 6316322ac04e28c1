#!/usr/bin/env node
/**
 * The `brook` command. Each verb lives in its own file under ./commands and
 * registers itself on the program here; this file only sets up the global
 * options and the exit-code contract:
 *   0  success
 *   1  failure, with a one-line reason on stderr
 *   2  usage error (missing or unknown verb, unknown flag, bad flag value,
 *      bad configuration)
 * Only an explicit `--help`, `help` or `--version` exits 0 without running a
 * verb; a missing verb (`brook`, `brook topic`) is a usage error and gets one
 * line naming the verbs, not the whole help text.
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
    .configureOutput({
      outputError: (text) => process.stderr.write(text),
      // Commander writes help to stderr only when a verb is missing; main() prints one line for that instead.
      writeErr: () => undefined,
    });
  registerServe(program);
  for (const register of [registerTopic, registerProduce, registerTail, registerReplay, registerGroup]) configureVerb(register(program));
  return program;
}

function oneLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0];
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function missingVerbMessage(command: Command): string {
  const path = commandPath(command);
  const verbs = command.commands.map((c) => c.name()).join(', ');
  return `${path}: missing command (one of: ${verbs}); see "${path} --help"`;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  program.commands.forEach((command) => command.exitOverride());
  let missingVerbOf: Command | undefined;
  program.on('beforeAllHelp', (context: { error: boolean; command: Command }) => {
    if (context.error) missingVerbOf = context.command;
  });
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Asked for: `--help`, `--version`, or `brook help` (commander.help with exit code 0).
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || (e.code === 'commander.help' && e.exitCode === 0)) return 0;
      if (missingVerbOf) process.stderr.write(`${missingVerbMessage(missingVerbOf)}\n`);
      return 2; // otherwise commander has already printed the one-line reason
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
