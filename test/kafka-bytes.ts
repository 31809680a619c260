// Kafka protocol bytes for the tests, from a real client library: requests
// from kafkajs's request encoders, responses built with kafkajs's Encoder in
// the layouts its response decoders read (no broker is packaged here).
import { createRequire } from 'node:module';

// kafkajs (a devDependency) is CommonJS without exports: its protocol modules load by path.
const require = createRequire(import.meta.url);
type KafkaRequestSpec = { apiKey: number; apiVersion: number; encode(): Promise<unknown> };
type KafkaEncoder = { writeInt16(n: number): KafkaEncoder; writeInt32(n: number): KafkaEncoder; writeInt64(n: number | string): KafkaEncoder;
  writeString(s: string | null): KafkaEncoder; writeArray(a: unknown[]): KafkaEncoder; writeBytes(b: Buffer): KafkaEncoder;
  writeEncoder(e: KafkaEncoder): KafkaEncoder; writeNullableArray?: unknown; buffer: Buffer; size(): number };
export const kafka = {
  request: require('kafkajs/src/protocol/request.js') as (a: { correlationId: number; clientId: string; request: KafkaRequestSpec }) => Promise<KafkaEncoder>,
  Encoder: require('kafkajs/src/protocol/encoder.js') as new () => KafkaEncoder,
  produce: require('kafkajs/src/protocol/requests/produce/v3/request.js') as (a: object) => KafkaRequestSpec,
  produceResponse: require('kafkajs/src/protocol/requests/produce/v3/response.js') as { decode(b: Buffer): Promise<unknown>; parse(d: unknown): Promise<unknown> },
  fetch: require('kafkajs/src/protocol/requests/fetch/v4/request.js') as (a: object) => KafkaRequestSpec,
  fetchResponse: require('kafkajs/src/protocol/requests/fetch/v4/response.js') as { decode(b: Buffer): Promise<unknown> },
};

export async function produceRequest(correlationId: number, topics: string[], acks = -1): Promise<Buffer> {
  const request = kafka.produce({
    acks, timeout: 1000, topicData: topics.map((topic) => ({
      topic, partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v'.repeat(100) }] }],
    })),
  });
  return (await kafka.request({ correlationId, clientId: 'vigil-test', request })).buffer;
}

export async function fetchRequest(correlationId: number, topics: string[]): Promise<Buffer> {
  const request = kafka.fetch({
    replicaId: -1, maxWaitTime: 100, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 1,
    topics: topics.map((topic) => ({ topic, partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1 << 20 }] })),
  });
  return (await kafka.request({ correlationId, clientId: 'vigil-test', request })).buffer;
}

/** A response: length, correlation id, the body. */
function response(correlationId: number, body: KafkaEncoder): Buffer {
  const e = new kafka.Encoder().writeInt32(correlationId).writeEncoder(body);
  return new kafka.Encoder().writeInt32(e.size()).writeEncoder(e).buffer;
}

/** Produce v3 response: [topic [partition error_code base_offset log_append_time]] throttle_time_ms. */
export function produceResponse(correlationId: number, topics: [string, number][]): Buffer {
  return response(correlationId, new kafka.Encoder().writeArray(topics.map(([topic, code]) => new kafka.Encoder().writeString(topic)
    .writeArray([new kafka.Encoder().writeInt32(0).writeInt16(code).writeInt64('5').writeInt64('-1')]))).writeInt32(0));
}

/** Fetch v4 response: throttle_time_ms [topic [partition error_code high_watermark last_stable_offset [aborted] records]]. */
export function fetchResponse(correlationId: number, topic: string, code: number, records: Buffer): Buffer {
  return response(correlationId, new kafka.Encoder().writeInt32(0).writeArray([new kafka.Encoder().writeString(topic).writeArray([
    new kafka.Encoder().writeInt32(0).writeInt16(code).writeInt64('10').writeInt64('10').writeInt32(0).writeBytes(records)])]));
}
