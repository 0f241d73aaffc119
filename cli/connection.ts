import type { Command } from 'commander';
import { connectClient, type RunClient } from '../lib/client';
import { resolveConnection } from '../lib/connection';

export interface ConnectionOptions {
  address?: string;
  namespace?: string;
}

export const defaultAddress = () => process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';

/** Adds the --address and --namespace options that every command talking to Temporal takes. */
export function withConnection(command: Command): Command {
  return command
    .option(
      '--address <host:port>',
      'Temporal frontend address (default: TEMPORAL_ADDRESS or 127.0.0.1:7233)',
    )
    .option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE or default)');
}

/** Runs an action with a connected client and closes the connection afterwards. */
export async function withClient<T>(
  options: ConnectionOptions,
  action: (connection: RunClient) => Promise<T>,
): Promise<T> {
  const connection = await connectClient(
    resolveConnection({ address: options.address, namespace: options.namespace }),
  );
  try {
    return await action(connection);
  } finally {
    await connection.close();
  }
}
