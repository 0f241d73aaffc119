import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from './errors';

/**
 * Settings with which clients and workers reach Temporal: a local dev server, a self-hosted
 * cluster with mTLS, or Temporal Cloud with mTLS or an API key. Secrets are read from files or the
 * environment and are never part of a workflow payload or a log line.
 */
export const connectionSchema = z
  .object({
    address: z.string().regex(/^[^\s:]+:\d+$/, 'use host:port, such as my-namespace.a1b2c.tmprl.cloud:7233'),
    namespace: z.string().min(1),
    /** mTLS client certificate and key (PEM files), and the CA that signed the server's certificate. */
    tls: z
      .object({
        clientCertPath: z.string().min(1),
        clientKeyPath: z.string().min(1),
        serverRootCaPath: z.string().min(1).optional(),
        serverNameOverride: z.string().min(1).optional(),
      })
      .optional(),
    /** Temporal Cloud API key; the connection then uses TLS with the system's root CAs. */
    apiKey: z.string().min(1).optional(),
  })
  .refine((settings) => !(settings.tls && settings.apiKey), {
    message:
      'use either mTLS (TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY) or an API key (TEMPORAL_API_KEY), not both',
  });

export type ConnectionSettings = z.infer<typeof connectionSchema>;

/**
 * Reads connection settings from the environment, with command-line values taking precedence:
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA,
 * TEMPORAL_TLS_SERVER_NAME, and TEMPORAL_API_KEY or TEMPORAL_API_KEY_FILE.
 *
 * @throws InvalidInputError naming the setting that is invalid or the file that cannot be read.
 */
export function resolveConnection(
  overrides: { address?: string; namespace?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): ConnectionSettings {
  let apiKey = env.TEMPORAL_API_KEY;
  if (!apiKey && env.TEMPORAL_API_KEY_FILE)
    apiKey = readSecret(env.TEMPORAL_API_KEY_FILE, 'TEMPORAL_API_KEY_FILE').toString('utf8').trim();
  const tls =
    env.TEMPORAL_TLS_CERT || env.TEMPORAL_TLS_KEY
      ? {
          clientCertPath: env.TEMPORAL_TLS_CERT ?? '',
          clientKeyPath: env.TEMPORAL_TLS_KEY ?? '',
          serverRootCaPath: env.TEMPORAL_TLS_CA,
          serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME,
        }
      : undefined;
  const result = connectionSchema.safeParse({
    address: overrides.address ?? env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: overrides.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default',
    tls,
    apiKey,
  });
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join('.') || 'connection'}: ${issue.message}`,
    );
    throw new InvalidInputError(`Invalid Temporal connection settings: ${problems.join('; ')}.`);
  }
  return result.data;
}

/** Options for `Connection.connect` and `NativeConnection.connect`, with certificates loaded. */
export function connectOptions(settings: ConnectionSettings) {
  const tls = settings.tls
    ? {
        clientCertPair: {
          crt: readSecret(settings.tls.clientCertPath, 'TEMPORAL_TLS_CERT'),
          key: readSecret(settings.tls.clientKeyPath, 'TEMPORAL_TLS_KEY'),
        },
        serverRootCACertificate: settings.tls.serverRootCaPath
          ? readSecret(settings.tls.serverRootCaPath, 'TEMPORAL_TLS_CA')
          : undefined,
        serverNameOverride: settings.tls.serverNameOverride,
      }
    : settings.apiKey
      ? true
      : undefined;
  return { address: settings.address, tls, apiKey: settings.apiKey };
}

/** Describes the connection for logs: address, namespace and kind of authentication, no secrets. */
export function describeConnection(settings: ConnectionSettings): string {
  let auth = 'no TLS';
  if (settings.tls) auth = 'mTLS';
  else if (settings.apiKey) auth = 'API key';
  return `${settings.address} (namespace ${settings.namespace}, ${auth})`;
}

function readSecret(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new InvalidInputError(
      `Cannot read ${file} from ${setting}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}. Check the path.`,
    );
  }
}
