import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { RECEIVE_WINDOW_BYTES, widenReceiveWindows } from '../../src/server/grpc-server';

function bind(server: grpc.Server, widen: boolean): Promise<{ port: number; widened: number }> {
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error) reject(error);
      else resolve({ port, widened: widen ? widenReceiveWindows(server) : 0 });
    });
  });
}

/** What a client connected to `port` sees of the server's receive windows, once its settings have arrived. */
async function windowsSeenBy(port: number, expectedStreamWindow: number): Promise<{ stream: number; connection: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    for (let i = 0; i < 100 && session.remoteSettings.initialWindowSize !== expectedStreamWindow; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // The connection window arrives as a WINDOW_UPDATE right after the settings.
    for (let i = 0; i < 100 && (session.state.remoteWindowSize ?? 0) < expectedStreamWindow; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return { stream: session.remoteSettings.initialWindowSize ?? -1, connection: session.state.remoteWindowSize ?? -1 };
  } finally {
    session.close();
  }
}

describe('the broker gRPC server receive window', () => {
  const servers: grpc.Server[] = [];
  afterAll(() => servers.forEach((s) => s.forceShutdown()));

  it('is widened to RECEIVE_WINDOW_BYTES per stream and per connection', async () => {
    const server = new grpc.Server();
    servers.push(server);
    const { port, widened } = await bind(server, true);
    expect(widened).toBe(1);
    const seen = await windowsSeenBy(port, RECEIVE_WINDOW_BYTES);
    expect(seen.stream).toBe(RECEIVE_WINDOW_BYTES);
    expect(seen.connection).toBeGreaterThanOrEqual(RECEIVE_WINDOW_BYTES);
  });

  it("is HTTP/2's 64 KiB without it", async () => {
    const server = new grpc.Server();
    servers.push(server);
    const { port } = await bind(server, false);
    const seen = await windowsSeenBy(port, 65_535);
    expect(seen.stream).toBe(65_535);
    expect(seen.connection).toBe(65_535);
  });
});
