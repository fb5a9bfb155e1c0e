// The verification example of docs/api.md ("Completion callbacks"), word for word but for the types.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function verifyErrandSignature(secret: string, header: string | undefined, rawBody: string | Buffer, toleranceSeconds = 300): boolean {
  const fields = new Map((header ?? '').split(',').map((part) => part.split('=', 2) as [string, string]));
  const t = Number(fields.get('t'));
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false; // too old: a replay
  const expected = createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest();
  const given = Buffer.from(fields.get('v1') ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
