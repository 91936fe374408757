import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../catalog/databases.ts';
import { startTestServer } from './server-harness.ts';

/** GET /v1/tenants: the console's tenant picker, for service tokens only; on SQLite and PostgreSQL. */
for (const database of testDatabases) {
  describe(`GET /v1/tenants (${database.name})`, async () => {
    const server = await startTestServer({ database });
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

    it('lists each tenant with its artifacts (variants not counted, their bytes are) and bytes, a page at a time', async () => {
      await server.put('alpha', png, 'image/png');
      await server.put('alpha', Buffer.from('hello'), 'text/plain', { artifactType: 'text' });
      const gamma = await server.put('gamma', png, 'image/png');
      await server.storage.storeVariant(gamma.storageKey, 'thumb_1.png', png);
      await server.put('beta', Buffer.from('x'), 'text/plain', { artifactType: 'text' });
      const service = { authorization: `Bearer ${await server.token({ role: 'service', sub: 'operator' })}` };

      const all = await fetch(`${server.url}/v1/tenants`, { headers: service });
      assert.equal(all.status, 200);
      assert.deepEqual(await all.json(), {
        items: [
          { tenantId: 'alpha', artifacts: 2, bytes: png.length + 5 },
          { tenantId: 'beta', artifacts: 1, bytes: 1 },
          { tenantId: 'gamma', artifacts: 1, bytes: png.length * 2 },
        ],
      });

      const first = await (await fetch(`${server.url}/v1/tenants?limit=2`, { headers: service })).json() as { items: { tenantId: string }[]; nextCursor?: string };
      assert.deepEqual(first.items.map((t) => t.tenantId), ['alpha', 'beta']);
      assert.equal(first.nextCursor, 'beta');
      const second = await (await fetch(`${server.url}/v1/tenants?limit=2&cursor=${first.nextCursor}`, { headers: service })).json() as { items: { tenantId: string }[]; nextCursor?: string };
      assert.deepEqual(second.items.map((t) => t.tenantId), ['gamma']);
      assert.equal(second.nextCursor, undefined);
    });

    it('is a 403 for a tenant\'s token and a 401 without one; a bad cursor is a 400', async () => {
      const user = await fetch(`${server.url}/v1/tenants`, { headers: await server.as('alpha') });
      assert.equal(user.status, 403);
      assert.match(((await user.json()) as { error: { message: string } }).error.message, /service token/);
      assert.equal((await fetch(`${server.url}/v1/tenants`)).status, 401);
      const service = { authorization: `Bearer ${await server.token({ role: 'service' })}` };
      assert.equal((await fetch(`${server.url}/v1/tenants?cursor=..%2Fx`, { headers: service })).status, 400);
    });
  });
}
