/**
 * Error for bad input: an invalid configuration, a missing dataset, an unreadable model. Activities
 * turn it into a non-retryable ApplicationFailure, because retrying cannot fix the input.
 */
export class InvalidInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidInputError';
  }
}

/** Error for an artifact whose bytes no longer match the sha256 recorded in its manifest. */
export class ArtifactIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArtifactIntegrityError';
  }
}
