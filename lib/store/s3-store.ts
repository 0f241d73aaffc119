import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { sha256 } from '../digest';
import { InvalidInputError } from '../errors';
import type { Artifact, ArtifactStore } from './artifact-store';

/** Connection settings of an S3 store; credentials always come from the standard AWS chain. */
export interface S3Settings {
  /** Custom endpoint of an S3-compatible server, such as http://127.0.0.1:7070; AWS S3 when omitted. */
  endpoint?: string;
  region?: string;
  /** Addresses buckets as endpoint/bucket rather than bucket.endpoint; most S3-compatible servers need it. */
  forcePathStyle?: boolean;
  /**
   * When the SDK adds integrity checksums to requests. `when_required` sends them only where the
   * S3 API demands one, so S3-compatible servers that reject the newer CRC headers accept it.
   * `when_supported` is the AWS SDK v3 default.
   */
  checksum?: 'when_required' | 'when_supported';
}

/** Objects at least this large are uploaded in parts of this size, with up to four in flight. */
const MULTIPART_PART_SIZE = 8 * 1024 * 1024;

/** Parses `s3://bucket/prefix?endpoint=…&region=…&forcePathStyle=true&checksum=when_required`. */
export function parseS3Uri(uri: string): { bucket: string; prefix: string; settings: S3Settings } {
  const url = new URL(uri);
  if (url.protocol !== 's3:' || !url.hostname) {
    throw new InvalidInputError(`Invalid S3 URI ${JSON.stringify(uri)}: expected s3://bucket/prefix.`);
  }
  const checksum = url.searchParams.get('checksum') ?? undefined;
  if (checksum !== undefined && checksum !== 'when_required' && checksum !== 'when_supported') {
    throw new InvalidInputError(
      `Invalid checksum setting ${JSON.stringify(checksum)} in ${uri}: use when_required or when_supported.`,
    );
  }
  return {
    bucket: url.hostname,
    prefix: decodeURIComponent(url.pathname.replace(/^\/+|\/+$/g, '')),
    settings: {
      endpoint: url.searchParams.get('endpoint') ?? undefined,
      region: url.searchParams.get('region') ?? undefined,
      forcePathStyle: url.searchParams.has('forcePathStyle')
        ? url.searchParams.get('forcePathStyle') === 'true'
        : undefined,
      checksum,
    },
  };
}

/** Builds the store URI that carries the connection settings (never credentials) to workers. */
export function formatS3Uri(root: string, settings: S3Settings): string {
  const url = new URL(root);
  for (const [key, value] of Object.entries(settings))
    if (value !== undefined) url.searchParams.set(key, String(value));
  return url.href;
}

/**
 * Artifact store in an S3 bucket under a key prefix, for AWS S3 or any S3-compatible server.
 *
 * Each put is one PUT (or one multipart upload) of the whole object, which S3 makes visible
 * atomically. putIfAbsent sends `If-None-Match: *`, so the server rejects a write to an existing
 * key with HTTP 412. Servers that check the condition before writing, as versitygw 1.7.0 does, can
 * still let simultaneous writers through; each of them then stores one whole object.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly root: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  private readonly where: string;

  constructor(uri: string) {
    const { bucket, prefix, settings } = parseS3Uri(uri);
    this.bucket = bucket;
    this.prefix = prefix;
    this.root = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
    this.where = `bucket ${bucket}${settings.endpoint ? ` at ${settings.endpoint}` : ''}`;
    const checksum = settings.checksum === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
    // One client per store: activities open a store per call, and a fresh client picks up rotated
    // credentials from the default chain.
    this.client = new S3Client({
      endpoint: settings.endpoint,
      region: settings.region ?? process.env.AWS_REGION ?? 'us-east-1',
      forcePathStyle: settings.forcePathStyle ?? settings.endpoint !== undefined,
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      // The SDK retries throttling, 5xx responses and connection resets with backoff before
      // Temporal's activity retry takes over.
      maxAttempts: 5,
    });
  }

  uriOf(key: string): string {
    return `${this.root}/${key}`;
  }

  keyOf(uri: string): string {
    const base = `${this.root}/`;
    if (!uri.startsWith(base)) throw new Error(`Artifact URI ${uri} is outside the store at ${this.root}.`);
    return uri.slice(base.length);
  }

  async put(key: string, data: Buffer): Promise<Artifact> {
    await this.send(key, async () => {
      if (data.length < MULTIPART_PART_SIZE) {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: data }),
        );
        return;
      }
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: this.objectKey(key), Body: data },
        partSize: MULTIPART_PART_SIZE,
        queueSize: 4,
        leavePartsOnError: false,
      });
      await upload.done();
    });
    return { uri: this.uriOf(key), sha256: sha256(data), bytes: data.length };
  }

  async putIfAbsent(key: string, data: Buffer): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: data, IfNoneMatch: '*' }),
      );
      return true;
    } catch (error) {
      const status = (error as S3ServiceException).$metadata?.httpStatusCode;
      if (status === 412 || status === 409) return false;
      throw this.describe(error, key);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    // TODO: stream large objects to callers; the ArtifactStore interface returns whole buffers.
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      const bytes = await response.Body?.transformToByteArray();
      return bytes ? Buffer.from(bytes) : Buffer.alloc(0);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.describe(error, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw this.describe(error, key);
    }
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.listObjects(prefix)).map((object) => object.key);
  }

  /** Lists the objects under a key prefix with their sizes and ETags, sorted by key. */
  async listObjects(prefix: string): Promise<{ key: string; bytes: number; etag: string }[]> {
    const objects: { key: string; bytes: number; etag: string }[] = [];
    let token: string | undefined;
    do {
      const response = await this.send(prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.objectKey(prefix),
            ContinuationToken: token,
          }),
        ),
      );
      for (const object of response.Contents ?? []) {
        if (!object.Key) continue;
        const key = this.prefix ? object.Key.slice(this.prefix.length + 1) : object.Key;
        objects.push({ key, bytes: object.Size ?? 0, etag: object.ETag ?? '' });
      }
      token = response.IsTruncated ? response.NextContinuationToken : undefined;
    } while (token);
    return objects.sort((a, b) => compareKeys(a.key, b.key));
  }

  private objectKey(key: string): string {
    if (key === '') return this.prefix ? `${this.prefix}/` : '';
    if (key.split('/').includes('..'))
      throw new Error(`Invalid artifact key ${JSON.stringify(key)}: keys must not contain "..".`);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private async send<T>(key: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw this.describe(error, key);
    }
  }

  /**
   * Turns S3 errors into messages that name the bucket or endpoint and what to check. Bad
   * configuration (missing bucket, rejected credentials, denied access) becomes a non-retryable
   * InvalidInputError; everything else stays retryable.
   */
  private describe(error: unknown, key: string): Error {
    const name = (error as { name?: string }).name ?? '';
    const code = (error as { code?: string }).code ?? '';
    const status = (error as S3ServiceException).$metadata?.httpStatusCode;
    const object = `s3://${this.bucket}/${this.objectKey(key)}`;
    if (name === 'NoSuchBucket') {
      return new InvalidInputError(
        `The ${this.where} does not exist. Create it, or fix the bucket in the store URI.`,
      );
    }
    if (
      name === 'InvalidAccessKeyId' ||
      name === 'SignatureDoesNotMatch' ||
      name === 'CredentialsProviderError'
    ) {
      return new InvalidInputError(
        `The ${this.where} rejected the credentials (${name}). Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ` +
          'AWS_PROFILE or the instance role.',
      );
    }
    if (name === 'AccessDenied' || status === 403) {
      return new InvalidInputError(
        `Access to ${object} in the ${this.where} was denied. Check the bucket policy and the IAM permissions.`,
      );
    }
    if (
      ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(code) ||
      name === 'TimeoutError'
    ) {
      return new Error(
        `Cannot reach the ${this.where} (${code || name}) while accessing ${object}. Check that the endpoint is up and reachable.`,
      );
    }
    const message = (error as Error).message ?? String(error);
    return new Error(
      `S3 request for ${object} in the ${this.where} failed: ${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${message}`,
    );
  }
}

/** True for a missing object; a missing bucket is also HTTP 404 but is a configuration error. */
function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  if (name === 'NoSuchBucket') return false;
  return (
    name === 'NoSuchKey' ||
    name === 'NotFound' ||
    (error as S3ServiceException).$metadata?.httpStatusCode === 404
  );
}

/** Orders keys by code unit, as S3 lists them, unlike localeCompare. */
function compareKeys(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}
