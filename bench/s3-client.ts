import { S3Client } from '@aws-sdk/client-s3';

/** A bare SDK client on the test gateway (scripts/s3-server.sh's env file): the benches' baseline side. */
export function benchS3Client(): S3Client {
  const env = process.env;
  return new S3Client({
    ...(env.BOARDS_TEST_S3_ENDPOINT ? { endpoint: env.BOARDS_TEST_S3_ENDPOINT } : {}), region: env.BOARDS_TEST_S3_REGION ?? 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: env.BOARDS_TEST_S3_ACCESS_KEY ?? '', secretAccessKey: env.BOARDS_TEST_S3_SECRET_KEY ?? '' },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
