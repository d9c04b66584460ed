import { createRequire } from 'node:module';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/*
 * Secrets for the connector by name (`{ key: NAME }` in its config, `connect store-token --key
 * NAME`): the OS keychain (macOS Keychain, Windows Credential Manager, the Secret Service on
 * Linux) through @napi-rs/keyring, or, where there is none (a server, a container, a Linux
 * without a running Secret Service), a JSON file only its owner may read (mode 0600, in a
 * folder of mode 0700). A file that others can read is refused, as ssh refuses such a key.
 */

/** The keychain's service name for every entry of ours. */
export const KEYCHAIN_SERVICE = 'mcp-bridge';

/** A secret that cannot be read or stored; the message says which and why, never the value. */
export class SecretError extends Error {
  override readonly name = 'SecretError';
}

interface KeyringEntry {
  getPassword(): string | null | undefined;
  setPassword(password: string): void;
}
type KeyringModule = {
  Entry: new (
    service: string,
    user: string,
    options?: { linux?: { store?: 'secret-service' | 'keyutils' } },
  ) => KeyringEntry;
};

export interface SecretStoreOptions {
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * Use the OS keychain when it works. `MCP_BRIDGE_KEYCHAIN=off` in the environment turns it
   * off too.
   * @default true
   */
  keychain?: boolean;
  /**
   * The fallback file.
   * @default $MCP_BRIDGE_SECRETS_FILE, else $XDG_CONFIG_HOME/mcp-bridge/secrets.json, else ~/.config/mcp-bridge/secrets.json
   */
  file?: string;
}

/** Where a secret was found or stored, for a log or a terminal (never the secret). */
export type SecretPlace = { kind: 'keychain' } | { kind: 'file'; path: string };

export function describePlace(place: SecretPlace): string {
  return place.kind === 'keychain' ? 'the OS keychain' : `the secrets file ${place.path}`;
}

export class SecretStore {
  readonly file: string;
  private readonly keychainWanted: boolean;
  private keyring: KeyringModule | null | undefined;

  constructor(options: SecretStoreOptions = {}) {
    const env = options.env ?? process.env;
    this.keychainWanted = (options.keychain ?? true) && env.MCP_BRIDGE_KEYCHAIN !== 'off';
    this.file =
      options.file ??
      env.MCP_BRIDGE_SECRETS_FILE ??
      join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mcp-bridge', 'secrets.json');
  }

  /** The secret stored under `key`, and where; undefined when neither place has it. */
  get(key: string): { value: string; place: SecretPlace } | undefined {
    const entry = this.entry(key);
    if (entry) {
      try {
        const value = entry.getPassword();
        if (value) return { value, place: { kind: 'keychain' } };
      } catch {
        // No usable keychain here (no Secret Service, a locked store): the file may have it.
      }
    }
    const value = this.readFile()[key];
    return typeof value === 'string' && value
      ? { value, place: { kind: 'file', path: this.file } }
      : undefined;
  }

  /** Stores `value` under `key`: in the keychain when it takes it, else in the file. */
  set(key: string, value: string): SecretPlace {
    const entry = this.entry(key);
    if (entry) {
      try {
        entry.setPassword(value);
        return { kind: 'keychain' };
      } catch {
        // Fall through to the file.
      }
    }
    const secrets = this.readFile();
    secrets[key] = value;
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    // The mode given to writeFileSync is masked by the umask; the file must be 0600 whatever it is.
    chmodSync(temporary, 0o600);
    renameSync(temporary, this.file);
    return { kind: 'file', path: this.file };
  }

  private entry(key: string): KeyringEntry | undefined {
    if (!this.keychainWanted) return undefined;
    if (this.keyring === undefined) {
      try {
        this.keyring = createRequire(import.meta.url)('@napi-rs/keyring') as KeyringModule;
      } catch {
        // The binding has no build for this platform: the file it is.
        this.keyring = null;
      }
    }
    // On Linux, the Secret Service or nothing: the binding's fallback, the kernel's session
    // keyring, forgets everything at logout, and a connector launched from another session
    // would not find what store-token put there. The 0600 file is the fallback instead.
    if (!this.keyring) return undefined;
    try {
      return new this.keyring.Entry(KEYCHAIN_SERVICE, key, { linux: { store: 'secret-service' } });
    } catch {
      // No keychain service on this machine (no D-Bus session, say): not asked again.
      this.keyring = null;
      return undefined;
    }
  }

  private readFile(): Record<string, unknown> {
    let text: string;
    try {
      const stat = statSync(this.file);
      if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0)
        throw new SecretError(
          `the secrets file ${this.file} may be read by others (mode ${(stat.mode & 0o777).toString(8)}); run "chmod 600 ${this.file}"`,
        );
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if (error instanceof SecretError) throw error;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new SecretError(
        `cannot read the secrets file ${this.file}: ${(error as Error).message}`,
      );
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        return parsed as Record<string, unknown>;
    } catch {
      // Reported below.
    }
    throw new SecretError(`the secrets file ${this.file} is not a JSON object of names to secrets`);
  }
}
