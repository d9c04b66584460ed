import { z } from 'zod';

/*
 * The `rest` section of the configuration (docs/configuration.md, docs/rest-api.md). Kept beside
 * the REST API it configures; src/config/schema.ts mounts it as `rest`.
 */

export const restConfigSchema = z
  .object({
    /**
     * Serve the REST/JSON API (`/sessions`, `/tools/*`, `/events/*`, `/api/v1/mcp/*`,
     * `/api/v1/servers/*`), `/openapi.json` and `/docs`.
     * @default true
     */
    enabled: z.boolean().default(true),
    /**
     * How often an open `/events` stream gets a `heartbeat` event.
     * @default 15000
     */
    heartbeatIntervalMs: z.number().int().min(100).default(15_000),
    /**
     * How long a server's request on a REST session (sampling, elicitation, roots) waits for an
     * answer posted to `/sessions/{id}/responses/{request_id}` before the server is told that
     * nobody answered.
     * @default 60000
     */
    serverRequestTimeoutMs: z.number().int().min(1).default(60_000),
    /**
     * Events a REST session keeps for streams that open later or resume (`Last-Event-ID`).
     * @default 1000
     */
    eventBuffer: z.number().int().min(1).default(1000),
    oneShot: z
      .object({
        /**
         * `pooled`: one-shot calls reuse an initialized session per (backend, caller), opened on
         * first use and ended by the idle sweep; `fresh`: every call opens a session, initializes,
         * calls and closes it (full isolation, one backend start per call for per-session stdio
         * backends).
         * @default 'pooled'
         */
        mode: z.enum(['pooled', 'fresh']).default('pooled'),
      })
      .strict()
      .prefault({}),
    /**
     * How long a backend's tool list behind `/openapi.json` is reused before it is asked again.
     * @default 30000
     */
    openapiToolsTtlMs: z.number().int().min(0).default(30_000),
  })
  .strict()
  .prefault({});

export type RestConfig = z.infer<typeof restConfigSchema>;
