/**
 * A server's flake node id: from configuration, or leased from the database so that servers
 * started together never share one. The lease is renewed while the process lives; if it is lost
 * (the process stalled past its expiry and another took the id), `onLost` is told, because
 * continuing would risk duplicate task ids.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ErrandError } from '../core/index.ts';
import type { NodeLeases } from '../store/index.ts';

export interface NodeIdLease { nodeId: number; release(): Promise<void> }

export async function leaseNodeId(store: NodeLeases, logger: Logger, onLost: () => void, ttlSeconds = 60): Promise<NodeIdLease> {
  const holder = randomUUID();
  const nodeId = await store.leaseNodeId(holder, ttlSeconds);
  if (nodeId === undefined) throw new ErrandError('conflict', 'all 1024 node ids are leased; set --node-id or stop idle servers');
  const timer = setInterval(() => {
    store.renewNodeLease(nodeId, holder, ttlSeconds).then(
      (held) => {
        if (!held) {
          logger.fatal({ nodeId }, 'node id lease lost to another process');
          onLost();
        }
      },
      (err: Error) => logger.warn({ nodeId, err: err.message }, 'could not renew node id lease; will retry'),
    );
  }, (ttlSeconds * 1000) / 3);
  timer.unref();
  return {
    nodeId,
    async release() {
      clearInterval(timer);
      await store.releaseNodeLease(nodeId, holder).catch(() => undefined);
    },
  };
}
