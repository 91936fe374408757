import { MemoryProvider } from '../../src/providers/memory.ts';
import { verifySignedUrl } from '../../src/providers/signed-url.ts';
import { runProviderContract } from './provider-contract.ts';

const secret = 'memory-contract-secret-0123456789';

runProviderContract({
  name: 'memory',
  create: async () => new MemoryProvider({ signing_secret: secret }),
  presign: { kind: 'verify', verify: (url, method) => verifySignedUrl(url, method, secret) },
  skipChecks: { 'bounded-memory': 'the memory provider keeps every object in RAM by design' },
});
