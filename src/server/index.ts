/** The broker: configuration and the process entry used by `brook serve`. */
export { BROKER_CONFIG_KEYS, ConfigError, envVarFor, flagFor, renderDefaultConfig, resolveBrokerConfig } from './config';
export type { BrokerConfig } from './config';
export { Broker, runBroker } from './broker';
