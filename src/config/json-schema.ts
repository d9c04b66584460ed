import { z } from 'zod';
import { BACKEND_NAME, configSchema, remoteBackendSchema, stdioBackendSchema } from './schema.js';

/*
 * A JSON Schema of the config file for editors (YAML and JSON language servers). It describes
 * what may be written, not what parseConfig returns: defaulted keys are optional. The one
 * difference from the zod schema: `transport` may be left out of a backend, since the schema
 * infers it from `command` or the URL's scheme, and JSON Schema cannot say that otherwise.
 */

const [streamableHttp, sse, auto, websocket] = remoteBackendSchema.options;

/** The input of a backend entry: each transport's fields, `transport` optional. */
const backendInput = z.union([
  stdioBackendSchema.extend({ transport: stdioBackendSchema.shape.transport.optional() }),
  // The three HTTP transports take the same fields; left out, `auto` is used.
  streamableHttp.extend({
    transport: z
      .enum([
        streamableHttp.shape.transport.value,
        sse.shape.transport.value,
        auto.shape.transport.value,
      ])
      .optional(),
    url: z.string().regex(/^[Hh][Tt][Tt][Pp][Ss]?:\/\//),
  }),
  websocket.extend({
    transport: websocket.shape.transport.optional(),
    url: z.string().regex(/^[Ww][Ss][Ss]?:\/\//),
  }),
]);

const inputSchema = configSchema.extend({
  backends: z.record(z.string().regex(BACKEND_NAME), backendInput),
});

/** The JSON Schema (draft 2020-12) of the configuration file. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(inputSchema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    override({ jsonSchema }) {
      // zod marks `startsWith` with a format of its own, which strict validators reject.
      if (jsonSchema.format === 'starts_with') delete jsonSchema.format;
    },
  }) as unknown as Record<string, unknown> & { properties: { backends: Record<string, unknown> } };
  // The zod schema refuses an empty `backends` with a refinement, which JSON Schema cannot see.
  schema.properties.backends.minProperties = 1;
  return {
    $schema: schema.$schema,
    title: 'mcp-bridge configuration',
    description:
      'Configuration file of mcp-bridge (YAML or JSON). See docs/configuration.md for every key.',
    ...schema,
  };
}
