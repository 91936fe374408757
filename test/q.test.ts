import { startTestServer } from '/work/wt/scale/test/server/server-harness.ts';
const server = await startTestServer({ storage: { quotas: { default: { artifacts: 0 } } } });
const r = await fetch(`${server.url}/v1/artifacts?artifactType=notes`, { method: 'POST', headers: { ...await server.as('a'), 'content-type': 'text/plain' }, body: 'x' });
console.log(r.status, await r.text());
