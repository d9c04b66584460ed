import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A key and its certificate, as PEM text. */
export type Identity = { cert: string; key: string };

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Certificates made by openssl in `dir`, for the TLS tests: certificate authorities, and the
 * identities they sign. Each writes `<name>.key` and `<name>.pem` there.
 */
export function certificates(dir: string) {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  return {
    /** A self-signed CA. */
    ca(name: string, subject = `/CN=${name}`): void {
      openssl(
        'req',
        '-x509',
        ...P256,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
        '-days',
        '1',
        '-subj',
        subject,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      );
    },
    /** A leaf certificate for `subject`, signed by the CA `signer`, with `extensions`. */
    issue(name: string, subject: string, signer: string, extensions: string): Identity {
      openssl('req', ...P256, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
      writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\n${extensions}\n`);
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${signer}.pem`,
        '-CAkey',
        `${signer}.key`,
        '-set_serial',
        String(Math.floor(Math.random() * 2 ** 48)),
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.pem`,
      );
      return {
        cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
        key: readFileSync(join(dir, `${name}.key`), 'utf8'),
      };
    },
  };
}
