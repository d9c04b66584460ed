import { z } from 'zod';

/*
 * The `cluster` section of the configuration (docs/scaling.md): several replicas sharing
 * Streamable HTTP sessions through Redis (`redis.url`). Off by default; with it off nothing of
 * src/cluster runs and no Redis call is made for sessions.
 */

/** What happens to a session whose replica died: continue it elsewhere, or end it (404). */
export const failoverSchema = z.enum(['reinitialize', 'end']);

export const clusterConfigSchema = z
  .object({
    /** Share sessions with the other replicas through `redis.url` (BRIDGE_CLUSTER). */
    enabled: z.boolean().default(false),
    /**
     * This replica's name, unique in the cluster: letters, digits and `-` (BRIDGE_REPLICA_ID).
     * Session ids start with it (`v1.<replicaId>.…`), so a load balancer can route by prefix.
     * Default: the host name (a pod's name under Kubernetes).
     */
    replicaId: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,63}$/, 'expected 1 to 63 letters, digits or "-"')
      .optional(),
    /**
     * The secret the replicas share (BRIDGE_CLUSTER_SECRET): it signs forwarded requests and
     * tags session ids, so that a forged id is refused before any Redis access.
     */
    secret: z.string().min(32, 'expected a secret of at least 32 characters').optional(),
    /** Address of the internal listener, where other replicas forward requests; default `server.host`. */
    host: z.string().min(1).optional(),
    /** Port of the internal listener (BRIDGE_CLUSTER_PORT); 0 for any free one. */
    port: z.number().int().min(0).max(65535).default(8091),
    /**
     * `host:port` the other replicas reach the internal listener at (BRIDGE_CLUSTER_ADVERTISE),
     * such as a pod's IP; default: `host:port` as bound.
     */
    advertise: z.string().min(1).optional(),
    /** How often the replica renews its heartbeat and checks that it still owns its sessions. */
    heartbeatMs: z.number().int().min(100).default(1000),
    /** A replica whose heartbeat is older than this is dead: its sessions may be adopted. */
    ttlMs: z.number().int().min(300).default(3000),
    /**
     * On SIGTERM, how long `/ready` answers 503 while requests are still served, so that the
     * load balancer stops sending here (its check interval times its fall count), before the
     * sessions are handed over.
     */
    drainDelayMs: z.number().int().min(0).default(2000),
    /** What a dead replica's sessions become by default; a backend's own `failover` wins. */
    failover: failoverSchema.default('reinitialize'),
    /** Events kept in Redis per resumable stream (oldest dropped first). */
    eventsPerStream: z.number().int().min(10).default(1000),
  })
  .strict()
  .prefault({});

export type ClusterConfig = z.infer<typeof clusterConfigSchema>;
