/** How a streaming answer ended, as `breakwater_streams_ended_total` labels it. */
export type StreamEnd = 'completed' | 'idle' | 'client_gone' | 'error';

/**
 * Counts of one route's streams in plain numbers, bumped as streams write and end and
 * handed to the metrics at scrape time (no label hashing on the write path).
 */
export class StreamStats {
  /** Body bytes written by the route's streams (before any transfer coding). */
  bytes = 0;
  /** Streams the handler ended. */
  completed = 0;
  /** Streams cut for staying silent past `timeout.idle`. */
  idle = 0;
  /** Streams whose client left before their end. */
  client_gone = 0;
  /** Streams that failed (the body's source errored, or the response was destroyed). */
  error = 0;
}
