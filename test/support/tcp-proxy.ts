/** A TCP proxy a test can cut: `down()` drops every connection and refuses new ones, `up()` listens again on the same port. */
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';

export interface TcpProxy { port: number; down(): Promise<void>; up(): Promise<void>; close(): Promise<void> }

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const listen = (server: Server, port: number) => new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
  const newServer = () => createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
  });
  let server: Server | undefined = newServer();
  const port = await listen(server, 0);
  const down = async (): Promise<void> => {
    const closing = server;
    server = undefined;
    if (closing) await new Promise<void>((resolve) => { closing.close(() => resolve()); for (const s of sockets) s.destroy(); });
  };
  return {
    port,
    down,
    async up() {
      if (server) return;
      server = newServer();
      await listen(server, port);
    },
    close: down,
  };
}
