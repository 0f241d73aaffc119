import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { startS3Server, type S3Server } from '../../infra/s3-server';
import { freePort } from '../../infra/temporal-server';
import { tempDir } from './data';

export const TEST_ACCESS_KEY = 'retrain-test-access';
export const TEST_SECRET_KEY = 'retrain-test-secret-8f3c2a';

/**
 * Starts versitygw on 127.0.0.1 with test credentials and one bucket, and puts the credentials in
 * the environment, where the AWS SDK's default chain (and worker threads started later) find them.
 */
export async function startTestS3(
  bucket = 'retrain-test',
): Promise<S3Server & { bucket: string; restart(): Promise<void> }> {
  const dataDir = tempDir('retrain-s3-');
  const options = {
    dataDir,
    port: await freePort(),
    adminPort: await freePort(),
    accessKey: TEST_ACCESS_KEY,
    secretKey: TEST_SECRET_KEY,
    logFile: path.join(dataDir, 'versitygw.log'),
  };
  process.env.AWS_ACCESS_KEY_ID = TEST_ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = TEST_SECRET_KEY;
  process.env.AWS_REGION = 'us-east-1';
  let server = await startS3Server(options);
  const client = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  const handle = {
    ...server,
    bucket,
    stop: () => server.stop(),
    restart: async () => {
      await server.stop();
      server = await startS3Server(options);
      handle.process = server.process;
    },
  };
  return handle;
}
