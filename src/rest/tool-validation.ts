import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import { GatewayError } from '../core/errors.js';

/*
 * Tool arguments checked against the tool's `inputSchema` before anything is forwarded, so that a
 * web caller gets a 400 naming the field rather than whatever the backend makes of it. Schemas
 * are JSON Schema 2020-12 unless they say otherwise (MCP 2025-11-25); draft-07 is what most
 * servers built with zod emit. Compiled validators are kept per (endpoint, tool) and compiled
 * again only when the schema's text changes. ajv is loaded on first use: a gateway that serves
 * no REST call does not pay for it at start.
 */

const require = createRequire(import.meta.url);

type AjvClass = new (options: Record<string, unknown>) => Ajv;
type Ajv2020Class = new (options: Record<string, unknown>) => Ajv2020;
const load = () => ({
  Ajv: (require('ajv') as { Ajv: AjvClass }).Ajv,
  Ajv2020: (require('ajv/dist/2020.js') as { Ajv2020: Ajv2020Class }).Ajv2020,
  addFormats: require('ajv-formats') as (ajv: Ajv | Ajv2020) => void,
});

const DRAFT_07 = /json-schema\.org\/draft-0[4-7]\/schema/;

let ajv2020: Ajv2020 | undefined;
let ajv07: Ajv | undefined;

function compilerFor(schema: Record<string, unknown>): Ajv | Ajv2020 {
  const declared = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (DRAFT_07.test(declared)) {
    if (!ajv07) {
      const { Ajv, addFormats } = load();
      ajv07 = new Ajv({ strict: false, allErrors: false, validateSchema: false });
      addFormats(ajv07);
    }
    return ajv07;
  }
  if (!ajv2020) {
    const { Ajv2020, addFormats } = load();
    ajv2020 = new Ajv2020({ strict: false, allErrors: false, validateSchema: false });
    addFormats(ajv2020);
  }
  return ajv2020;
}

interface Compiled {
  readonly text: string;
  readonly validate: ValidateFunction | undefined;
}

const MAX_CACHED = 2000;
const cache = new Map<string, Compiled>();

/**
 * The validator of one tool's `inputSchema`, from the cache when the schema is unchanged. A schema
 * that does not compile gives no validator (the backend validates as it would anyway) rather than
 * refusing every call.
 */
export function validatorFor(
  endpoint: string,
  tool: string,
  inputSchema: unknown,
): ValidateFunction | undefined {
  if (typeof inputSchema !== 'object' || inputSchema === null) return undefined;
  const key = `${endpoint}\0${tool}`;
  const text = JSON.stringify(inputSchema);
  const cached = cache.get(key);
  if (cached?.text === text) return cached.validate;
  let validate: ValidateFunction | undefined;
  try {
    const schema = { ...(inputSchema as Record<string, unknown>) };
    const compiler = compilerFor(schema);
    // The compiler keeps schemas by $id; a tool's schema is compiled by its text instead.
    delete schema.$id;
    delete schema.$schema;
    validate = compiler.compile(schema);
  } catch {
    validate = undefined;
  }
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(key, { text, validate });
  return validate;
}

/** Where an ajv error points, as a dotted path under `prefix` (`params.query`, `arguments[0]`). */
function fieldOf(error: ErrorObject, prefix: string): string {
  let path = prefix;
  for (const part of error.instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  if (error.keyword === 'required' && params.missingProperty)
    return `${path}.${params.missingProperty}`;
  if (error.keyword === 'additionalProperties' && params.additionalProperty)
    return `${path}.${params.additionalProperty}`;
  return path;
}

/** Throws GATEWAY_INVALID_REQUEST naming the field when `args` do not match the tool's schema. */
export function checkArguments(
  validate: ValidateFunction | undefined,
  args: unknown,
  tool: string,
  prefix: string,
): void {
  if (!validate || validate(args)) return;
  const error = validate.errors?.[0];
  if (!error) return;
  const field = fieldOf(error, prefix);
  const what =
    error.keyword === 'required'
      ? 'is required'
      : error.keyword === 'additionalProperties'
        ? 'is not a parameter of this tool'
        : (error.message ?? 'is not valid');
  throw new GatewayError(
    'GATEWAY_INVALID_REQUEST',
    `${field} ${what} (arguments of tool "${tool}")`,
    {
      data: { field, keyword: error.keyword },
    },
  );
}
