import { murmur2, partitionForKey, toPositive } from '../../src/common/partitioner';

describe('murmur2 (Kafka Utils.murmur2)', () => {
  // Kafka's published vectors (clients UtilsTest.testMurmur2).
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  it.each(vectors)('hashes %j like Kafka', (input, expected) => {
    expect(murmur2(Buffer.from(input))).toBe(expected);
  });

  it('toPositive clears the sign bit, including for INT_MIN', () => {
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(-790332482)).toBe(1357151166);
  });

  it('places keys as Kafka would', () => {
    expect(partitionForKey(Buffer.from('foobar'), 50)).toBe(1357151166 % 50);
    expect(() => partitionForKey(Buffer.from('x'), 0)).toThrow(RangeError);
  });
});
