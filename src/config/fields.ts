import { z } from 'zod';

/* Small field shapes the configuration's schemas share. */

export const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const ms = (fallback: number) => z.number().int().min(0).default(fallback);

/** Glob patterns (`*` any run of characters, `?` one) over tool names. */
export const globs = z.array(z.string().min(1)).optional();
