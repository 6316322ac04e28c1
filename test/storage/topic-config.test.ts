import { DEFAULT_TOPIC_CONFIG, TOPIC_CONFIG_KEYS, parseTopicConfig, topicConfigToMap } from '../../src/storage';
import { isBrookError } from '../../src/common/errors';

function errorOf(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (e) {
    return { code: isBrookError(e) ? e.code : undefined, message: (e as Error).message };
  }
  throw new Error('expected a throw');
}

describe('parseTopicConfig', () => {
  it('fills every key from the defaults and freezes the result', () => {
    const config = parseTopicConfig({});
    expect(config).toEqual(DEFAULT_TOPIC_CONFIG);
    expect(Object.isFrozen(config)).toBe(true);
    expect(config.segmentBytes).toBe(1_073_741_824);
    expect(config.maxMessageBytes).toBe(1_048_588);
    expect(config.flushPolicy).toBe('always');
    expect(Object.keys(topicConfigToMap(config)).sort()).toEqual(Object.keys(TOPIC_CONFIG_KEYS).sort());
  });

  it('parses every Kafka-named key', () => {
    const config = parseTopicConfig({
      'retention.ms': '-1',
      'retention.bytes': '1000000',
      'segment.bytes': '1024',
      'segment.ms': '60000',
      'index.interval.bytes': '0',
      'max.message.bytes': '2000',
      'flush.policy': 'interval',
      'flush.interval.ms': '250',
      'message.timestamp.type': 'LogAppendTime',
    });
    expect(config).toMatchObject({ retentionMs: -1, retentionBytes: 1_000_000, segmentBytes: 1024, segmentMs: 60_000, indexIntervalBytes: 0, maxMessageBytes: 2000, flushPolicy: 'interval', flushIntervalMs: 250, messageTimestampType: 'LogAppendTime' });
  });

  it.each([
    [{ 'segment.bytes': '1023' }, 'segment.bytes'],
    [{ 'segment.bytes': '12abc' }, 'segment.bytes'],
    [{ 'retention.ms': '-2' }, 'retention.ms'],
    [{ 'flush.policy': 'sometimes' }, 'flush.policy'],
    [{ 'message.timestamp.type': 'BrokerTime' }, 'message.timestamp.type'],
    [{ 'cleanup.policy': 'compact' }, 'cleanup.policy'],
    [{ 'flush.interval.ms': '0' }, 'flush.interval.ms'],
    [{ 'max.message.bytes': '0' }, 'max.message.bytes'],
    [{ 'max.message.bytes': '67' }, 'max.message.bytes'],
  ])('rejects %j naming the key', (overrides, key) => {
    const error = errorOf(() => parseTopicConfig(overrides as Record<string, string>));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toContain(`"${key}"`);
  });

  it('documents every key with its default', () => {
    for (const [key, spec] of Object.entries(TOPIC_CONFIG_KEYS)) {
      expect(spec.doc).toMatch(/default/);
      expect(spec.doc).toContain(String(DEFAULT_TOPIC_CONFIG[spec.field]));
      expect(key).toMatch(/^[a-z.]+$/);
    }
  });
});
