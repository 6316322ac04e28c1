/** A usage error raised by a verb after its flags were parsed: `brook` exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
