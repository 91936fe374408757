import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { LocalProvider } from '../../src/providers/local.ts';
import { verifySignedUrl } from '../../src/providers/signed-url.ts';
import { runProviderContract } from './provider-contract.ts';

const secret = 'local-contract-secret-0123456789';
const dir = await mkdtemp(join(tmpdir(), 'boards-contract-local-'));
after(() => rm(dir, { recursive: true, force: true }));

runProviderContract({
  name: 'local',
  create: () => LocalProvider.open({ base_path: dir, signing_secret: secret }),
  presign: { kind: 'verify', verify: (url, method) => verifySignedUrl(url, method, secret) },
});
