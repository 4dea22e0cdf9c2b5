/** Largest admin request body read (admin actions are a few dozen bytes). */
export const MAX_ADMIN_BODY_BYTES = 16 * 1024; // 16 KiB

/**
 * Reads a small request body as text; rejects (with `status` 413) past `limit` bytes.
 * Resolves with `''` for a stream that has nothing, or has already been read.
 */
export async function readBody(
  stream: AsyncIterable<unknown>,
  limit = MAX_ADMIN_BODY_BYTES,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > limit) throw Object.assign(new Error('request body too large'), { status: 413 });
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
