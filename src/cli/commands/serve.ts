/**
 * `brook serve`: runs a broker in the foreground until SIGTERM/SIGINT.
 * Every broker config key has a flag (`--limits-max-wait-ms`); `--set k=v`
 * sets any key by its config name. The broker itself lives in src/server.
 */
import type { Command } from 'commander';
import { BROKER_CONFIG_KEYS, ConfigError, flagFor, resolveBrokerConfig, runBroker } from '../../server';
import { UsageError } from '../usage-error';

function collectPairs(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerServe(program: Command): void {
  const serve = program
    .command('serve')
    .description('run a broker (config: config/brook.yaml, BROOK_* env vars, flags)')
    .option('--config <file>', 'YAML config file (default: config/brook.yaml when present; env BROOK_CONFIG)')
    .option('--set <key=value>', 'set any config key, e.g. --set topic.flush.policy=never (repeatable)', collectPairs, []);
  for (const [key, spec] of Object.entries(BROKER_CONFIG_KEYS)) {
    serve.option(`--${flagFor(key)} <value>`, `${spec.doc} (default ${JSON.stringify(spec.default)})`);
  }
  serve.action(async (options: Record<string, unknown>, command: Command) => {
    const flags: Record<string, string> = {};
    for (const pair of options.set as string[]) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--set expects key=value, got ${JSON.stringify(pair)}`);
      flags[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    for (const key of Object.keys(BROKER_CONFIG_KEYS)) {
      const option = command.options.find((o) => o.long === `--${flagFor(key)}`);
      const value = option ? options[option.attributeName()] : undefined;
      if (typeof value === 'string') flags[key] = value;
    }
    let config;
    try {
      config = resolveBrokerConfig({ configFile: options.config as string | undefined, flags });
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
    process.exitCode = await runBroker(config);
  });
}
