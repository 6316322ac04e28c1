/**
 * Node stream settings grpc-js offers no option for.
 */
import type { Readable } from 'stream';

/**
 * Makes `stream` (a grpc-js call's object-mode Readable) buffer at most
 * `messages` received messages instead of Node's default 16: paused, it
 * stops pulling after that many, and then HTTP/2 flow control holds the
 * sender back. The field is Node's own (ReadableState.highWaterMark);
 * without it the stream keeps the default.
 */
export function limitReadBuffer(stream: Readable, messages: number): void {
  const state = (stream as unknown as { _readableState?: { highWaterMark?: number } })._readableState;
  if (state && typeof state.highWaterMark === 'number') state.highWaterMark = messages;
}
