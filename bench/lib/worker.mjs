/** The worker side of `startWorker`: answers `{ id, name, arg }` messages with `handlers[name](arg)`. */
export function serve(handlers) {
  process.on('message', async (m) => {
    try {
      const value = await handlers[m.name](m.arg);
      process.send({ id: m.id, value });
    } catch (e) {
      process.send({ id: m.id, error: e instanceof Error ? e.stack : String(e) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}
